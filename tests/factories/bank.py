"""Customers, users, accounts and money, built with the bank's own services.

Password hashes are Argon2id (~30 ms each), so users made with the default password share
one hash computed once per process.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wangyin.accounts import service as accounts
from wangyin.accounts.models import Account, Card
from wangyin.identity.models import Customer, Device, User
from wangyin.identity.passwords import hash_password
from wangyin.identity.validators import id_check_digit
from wangyin.ids import new_public_id
from wangyin.ledger import service as ledger
from wangyin.ledger.models import LedgerAccount

DEFAULT_PASSWORD = "Qiang-Mima-42"
DEFAULT_PIN = "258147"  # every factory user's transaction password

_serial = itertools.count(1)
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"


@cache
def _default_hash() -> str:
    return hash_password(DEFAULT_PASSWORD)


@cache
def _default_pin_hash() -> str:
    return hash_password(DEFAULT_PIN)


def device_of(username: str) -> str:
    """The device id a factory user has already bound (a returning customer's phone)."""
    return f"device-{username}"


def new_id_number(birth: str = "19880808") -> str:
    """A valid GB 11643 ID number (region 110105, the given birth date, a unique serial)."""
    n = next(_serial)
    first17 = f"110105{birth}{n % 1000:03d}"
    return first17 + id_check_digit(first17)


def new_mobile() -> str:
    return f"139{next(_serial) % 10**8:08d}"


def _new_name() -> str:
    n = next(_serial)
    return _SURNAMES[n % len(_SURNAMES)] + _GIVEN[(n // len(_SURNAMES)) % len(_GIVEN)] + "测"


def make_customer(
    session: Session,
    *,
    at: datetime,
    name: str | None = None,
    id_number: str | None = None,
    mobile: str | None = None,
) -> Customer:
    customer = Customer(
        public_id=new_public_id(),
        name=name or _new_name(),
        id_number=id_number or new_id_number(),
        mobile=mobile or new_mobile(),
        created_at=at,
    )
    session.add(customer)
    session.flush()
    return customer


def make_user(
    session: Session,
    customer: Customer,
    *,
    at: datetime,
    username: str | None = None,
    password: str = DEFAULT_PASSWORD,
    edition: str = "professional",
) -> User:
    user = User(
        public_id=new_public_id(),
        customer_id=customer.id,
        username=username or f"user{next(_serial)}",
        password_hash=_default_hash() if password == DEFAULT_PASSWORD else hash_password(password),
        transaction_pin_hash=_default_pin_hash(),
        edition=edition,
        status="active",
        created_at=at,
        password_changed_at=at,
        upgraded_at=at if edition == "professional" else None,
    )
    session.add(user)
    session.flush()
    session.add(
        Device(
            public_id=new_public_id(),
            user_id=user.id,
            device_id=device_of(user.username),
            label="factory phone",
            bound_at=at,
            last_seen_at=at,
        )
    )
    session.flush()
    return user


def fund(session: Session, account: Account, amount_minor: int, *, at: datetime) -> None:
    """A cash deposit at the counter: the bank's clearing account pays the customer's."""
    clearing = ledger.internal_account(
        session, purpose="CLEARING", currency=account.currency, at=at
    )
    ledger.post(
        session,
        kind="deposit",
        at=at,
        description="开户存入",
        legs=[
            ledger.Leg(clearing.id, -amount_minor, account.currency, memo="开户存入"),
            ledger.Leg(
                account.ledger_account_id,
                amount_minor,
                account.currency,
                memo="开户存入",
                counterparty_name="柜面现金",
            ),
        ],
    )


def make_account(
    session: Session,
    customer: Customer,
    *,
    at: datetime,
    currency: str = "CNY",
    balance_minor: int = 0,
    kind: str = "current",
    with_card: bool = False,
) -> Account:
    account = accounts.open_account(
        session, customer_id=customer.id, kind=kind, currency=currency, at=at
    )
    if with_card:
        accounts.issue_card(session, account=account, at=at)
    if balance_minor:
        fund(session, account, balance_minor, at=at)
    return account


def card_of(session: Session, account: Account) -> Card:
    card = session.scalars(select(Card).where(Card.account_id == account.id)).first()
    assert card is not None
    return card


def balance(session: Session, account: Account) -> int:
    la = session.get(LedgerAccount, account.ledger_account_id, populate_existing=True)
    assert la is not None
    return la.balance_minor


def available(session: Session, account: Account) -> int:
    la = session.get(LedgerAccount, account.ledger_account_id, populate_existing=True)
    assert la is not None
    return la.available_minor


def customer_total(session: Session) -> int:
    """Sum of every customer account's balance (all currencies lumped: tests use one)."""
    total = session.scalar(
        select(func.coalesce(func.sum(LedgerAccount.balance_minor), 0)).where(
            LedgerAccount.kind == "customer"
        )
    )
    return int(total or 0)


@dataclass
class Person:
    """A customer with an online-banking user and one funded CNY account (with a card)."""

    customer: Customer
    user: User
    account: Account
    card_number: str

    @property
    def name(self) -> str:
        return self.customer.name

    @property
    def username(self) -> str:
        return self.user.username


def make_person(
    session: Session,
    *,
    at: datetime,
    balance_minor: int = 10_000_00,
    edition: str = "professional",
    name: str | None = None,
    username: str | None = None,
) -> Person:
    customer = make_customer(session, at=at, name=name)
    user = make_user(session, customer, at=at, edition=edition, username=username)
    account = make_account(session, customer, at=at, balance_minor=balance_minor, with_card=True)
    return Person(customer, user, account, card_of(session, account).number)
