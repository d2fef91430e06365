"""Amounts: decimal strings in, integer minor units out, exact or refused."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wangyin import money
from wangyin.errors import DomainError
from wangyin.money import (
    CURRENCY_EXPONENTS,
    MAX_AMOUNT_MINOR,
    Money,
    format_grouped,
    format_minor,
    parse_amount,
    parse_amount_or_zero,
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
        ("10000000000000000", "JPY", "amount_too_large"),  # 17 integer digits
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
        # Only a plain ASCII decimal: no exponent, no digit grouping, no other scripts'
        # digits, no sign but the minus (which is refused as not positive).
        ("1e400", "CNY", "invalid_amount"),
        ("1e30", "CNY", "invalid_amount"),
        ("1e1", "CNY", "invalid_amount"),
        ("1E2", "CNY", "invalid_amount"),
        ("1e999999", "CNY", "invalid_amount"),
        ("1e320000", "CNY", "invalid_amount"),
        ("-1e999999", "CNY", "invalid_amount"),
        ("0e999999", "CNY", "invalid_amount"),
        ("1_0", "CNY", "invalid_amount"),
        ("1_000.00", "CNY", "invalid_amount"),
        ("١٢", "CNY", "invalid_amount"),  # Arabic-Indic digits
        ("１２", "CNY", "invalid_amount"),  # full-width digits
        ("१२", "CNY", "invalid_amount"),  # Devanagari digits
        ("+1", "CNY", "invalid_amount"),
        ("--1", "CNY", "invalid_amount"),
        ("1 000", "CNY", "invalid_amount"),
        ("1\t0", "CNY", "invalid_amount"),
        ("1.", "CNY", "invalid_amount"),
        (".5", "CNY", "invalid_amount"),
        ("1.2.3", "CNY", "invalid_amount"),
        ("0x10", "CNY", "invalid_amount"),
        ("1\x00", "CNY", "invalid_amount"),
        ("\u3000" + "1", "CNY", "invalid_amount"),  # ideographic space is not trimmed
        ("1" * 41, "CNY", "invalid_amount"),  # longer than any amount field
        ("0." + "0" * 60 + "1", "CNY", "invalid_amount"),
        pytest.param(10**5000, "CNY", "amount_too_large", id="int-too-long-to-print"),
        (0, "CNY", "amount_not_positive"),
        (-3, "CNY", "amount_not_positive"),
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


@pytest.mark.parametrize(
    "text",
    [
        "1e999999",
        "1e320000",
        pytest.param("9" * 500, id="500-nines"),
        pytest.param("1" + "0" * 100_000, id="100k-digits"),
        "1_0",
        "١٢",
        "+1",
        "1e1",
    ],
)
def test_parse_amount_does_no_arithmetic_on_text_that_is_not_a_plain_decimal(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11 #1: `Decimal("1e320000")` turned into an int held the GIL for seconds.
    The shape (plain ASCII digits, bounded length) is checked before any conversion, so
    neither `Decimal` nor `int` ever sees such a text."""

    class Forbidden(int):
        """Stands in for `int` and `Decimal` in money's namespace: a type (so that
        isinstance checks still work) that refuses to be constructed."""

        def __new__(cls, *args: object, **kwargs: object) -> Forbidden:
            raise AssertionError(f"converted {args!r} before checking its shape")

    monkeypatch.setattr(money, "Decimal", Forbidden, raising=False)
    monkeypatch.setattr(money, "int", Forbidden, raising=False)
    assert refused(text) in {"invalid_amount", "amount_too_large"}


def test_parse_amount_of_a_huge_exponent_is_refused_as_invalid() -> None:
    assert refused("1e999999") == "invalid_amount"
    assert refused("1E+999999", "JPY") == "invalid_amount"


PLAIN = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)


# Texts close to an amount: digits of several scripts, exponents, separators, signs.
near_amounts = st.text(alphabet="0123456789.eE+-_ \t,١٢０９\x00\u00a0", max_size=45)


@given(text=st.one_of(near_amounts, st.text(max_size=45)))
def test_parse_accepts_only_plain_ascii_decimals(text: str) -> None:
    """Whatever the text, a stable refusal or an in-range amount of a plain decimal."""
    try:
        minor = parse_amount(text, "CNY")
    except DomainError as exc:
        assert exc.code in {
            "invalid_amount",
            "amount_too_precise",
            "amount_not_positive",
            "amount_too_large",
        }
        return
    assert PLAIN.fullmatch(text.strip(" \t\r\n"))
    assert 0 < minor <= MAX_AMOUNT_MINOR
    assert Decimal(minor).scaleb(-2) == Decimal(text.strip())


@given(
    whole=st.text(alphabet="0123456789", min_size=1, max_size=16),
    frac=st.text(alphabet="0123456789", max_size=8),
    currency=currencies,
)
def test_parse_agrees_with_decimal_on_plain_decimals(whole: str, frac: str, currency: str) -> None:
    text = f"{whole}.{frac}" if frac else whole
    exact = Decimal(text).scaleb(CURRENCY_EXPONENTS[currency])
    try:
        minor = parse_amount(text, currency)
    except DomainError as exc:
        if exact != exact.to_integral_value():
            assert exc.code == "amount_too_precise"
        elif exact == 0:
            assert exc.code == "amount_not_positive"
        else:
            assert exc.code == "amount_too_large"
            assert exact > MAX_AMOUNT_MINOR
        return
    assert minor == exact


@pytest.mark.parametrize("text", ["0", "0.00", " 0 ", "000", "0.0000"])
def test_zero_means_off_where_zero_is_allowed(text: str) -> None:
    assert parse_amount_or_zero(text, "CNY") == 0


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("0e999999", "invalid_amount"),
        ("-0", "amount_not_positive"),
        ("0_0", "invalid_amount"),
        ("٠", "invalid_amount"),
        ("", "invalid_amount"),
        ("0.001", "amount_too_precise"),
    ],
)
def test_zero_allowed_still_takes_only_plain_decimals(text: str, code: str) -> None:
    with pytest.raises(DomainError) as info:
        parse_amount_or_zero(text, "CNY")
    assert info.value.code == code
    assert parse_amount_or_zero("12.50", "CNY") == 1250
