"""Amounts: decimal strings in, integer minor units out, exact or refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wangyin.errors import DomainError
from wangyin.money import (
    CURRENCY_EXPONENTS,
    MAX_AMOUNT_MINOR,
    Money,
    format_grouped,
    format_minor,
    parse_amount,
)


def refused(text: object, currency: str = "CNY") -> str:
    with pytest.raises(DomainError) as info:
        parse_amount(text, currency)
    return info.value.code


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("1234.56", "CNY", 123456),
        ("0.01", "CNY", 1),
        ("1", "CNY", 100),
        (" 12.5 ", "USD", 1250),
        ("12.50", "EUR", 1250),
        ("1000", "JPY", 1000),
        ("1000.0", "JPY", 1000),  # trailing zeros are still an exact yen amount
        (7, "CNY", 700),
        ("10000000000000.00", "CNY", MAX_AMOUNT_MINOR),
    ],
)
def test_parse_amount_accepts_exact_amounts(text: object, currency: str, minor: int) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "code"),
    [
        ("0.001", "CNY", "amount_too_precise"),
        ("1.5", "JPY", "amount_too_precise"),
        ("0", "CNY", "amount_not_positive"),
        ("0.00", "CNY", "amount_not_positive"),
        ("-1", "CNY", "amount_not_positive"),
        ("-0.01", "USD", "amount_not_positive"),
        ("1e400", "CNY", "amount_too_large"),
        ("1e30", "CNY", "amount_too_large"),
        ("10000000000000.01", "CNY", "amount_too_large"),
        (str(MAX_AMOUNT_MINOR + 1), "JPY", "amount_too_large"),
        ("NaN", "CNY", "invalid_amount"),
        ("Infinity", "CNY", "invalid_amount"),
        ("-inf", "CNY", "invalid_amount"),
        ("abc", "CNY", "invalid_amount"),
        ("", "CNY", "invalid_amount"),
        ("1,000", "CNY", "invalid_amount"),
        ("¥100", "CNY", "invalid_amount"),
        (1.5, "CNY", "invalid_amount"),  # floats never carry money
        (True, "CNY", "invalid_amount"),
        (None, "CNY", "invalid_amount"),
        ("1", "XYZ", "unknown_currency"),
    ],
)
def test_parse_amount_refuses_with_a_stable_code(text: object, currency: str, code: str) -> None:
    assert refused(text, currency) == code


def test_too_precise_message_names_currency_and_places() -> None:
    with pytest.raises(DomainError) as info:
        parse_amount("0.001", "CNY")
    assert info.value.params == {"currency": "CNY", "places": 2}
    assert "CNY" in str(info.value) and "2" in str(info.value)


@pytest.mark.parametrize(
    ("minor", "currency", "plain", "grouped"),
    [
        (123456, "CNY", "1234.56", "1,234.56"),
        (123456789, "CNY", "1234567.89", "1,234,567.89"),
        (5, "CNY", "0.05", "0.05"),
        (0, "USD", "0.00", "0.00"),
        (-123456, "CNY", "-1234.56", "-1,234.56"),
        (-5, "CNY", "-0.05", "-0.05"),
        (1234567, "JPY", "1234567", "1,234,567"),
        (MAX_AMOUNT_MINOR, "CNY", "10000000000000.00", "10,000,000,000,000.00"),
    ],
)
def test_format_minor_and_grouped(minor: int, currency: str, plain: str, grouped: str) -> None:
    assert format_minor(minor, currency) == plain
    assert format_grouped(minor, currency) == grouped


def test_money_arithmetic_refuses_mixed_currencies() -> None:
    a = Money(100, "CNY")
    assert (a + Money(50, "CNY")) == Money(150, "CNY")
    assert str(a - Money(150, "CNY")) == "-0.50 CNY"
    with pytest.raises(DomainError) as info:
        a + Money(1, "USD")
    assert info.value.code == "currency_mismatch"
    with pytest.raises(DomainError):
        Money(1, "XYZ")


currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))
positive_minor = st.integers(min_value=1, max_value=MAX_AMOUNT_MINOR)


@given(minor=positive_minor, currency=currencies)
def test_format_then_parse_is_identity(minor: int, currency: str) -> None:
    assert parse_amount(format_minor(minor, currency), currency) == minor


@given(
    minor=st.integers(min_value=-MAX_AMOUNT_MINOR, max_value=MAX_AMOUNT_MINOR), currency=currencies
)
def test_grouped_form_is_the_plain_form_with_separators(minor: int, currency: str) -> None:
    plain = format_minor(minor, currency)
    grouped = format_grouped(minor, currency)
    assert grouped.replace(",", "") == plain
    # Exact: the decimal value of the text is the minor amount scaled by the exponent.
    assert Decimal(plain).scaleb(CURRENCY_EXPONENTS[currency]) == minor


@given(
    value=st.decimals(
        min_value=Decimal("-1e20"), max_value=Decimal("1e20"), allow_nan=False, places=4
    ),
    currency=currencies,
)
def test_parse_never_rounds(value: Decimal, currency: str) -> None:
    """Either the exact minor amount, or a refusal: never a silently rounded number."""
    try:
        minor = parse_amount(str(value), currency)
    except DomainError as exc:
        assert exc.code in {"amount_too_precise", "amount_not_positive", "amount_too_large"}
        return
    assert Decimal(minor).scaleb(-CURRENCY_EXPONENTS[currency]) == value
