"""Small builders for test data that go through the real services."""

from factories.bank import (
    DEFAULT_PASSWORD,
    Person,
    available,
    balance,
    card_of,
    customer_total,
    fund,
    make_account,
    make_customer,
    make_person,
    make_user,
    new_id_number,
    new_mobile,
)

__all__ = [
    "DEFAULT_PASSWORD",
    "Person",
    "available",
    "balance",
    "card_of",
    "customer_total",
    "fund",
    "make_account",
    "make_customer",
    "make_person",
    "make_user",
    "new_id_number",
    "new_mobile",
]
