"""Money in integer minor units.

Amounts never touch floats: the API carries decimal strings ("1234.56"), the database
stores integers in the currency's minor unit, and the conversion between the two is
exact or refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wangyin.errors import DomainError

# ISO 4217 exponents for the currencies the bank books. JPY has no minor unit.
CURRENCY_EXPONENTS: dict[str, int] = {
    "CNY": 2,
    "USD": 2,
    "EUR": 2,
    "HKD": 2,
    "GBP": 2,
    "JPY": 0,
}

# Largest amount a single movement may carry: fits a signed 64-bit column with room
# for balances to grow, and far above any real retail or corporate transfer.
MAX_AMOUNT_MINOR = 10**15


def exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise DomainError("unknown_currency", currency=currency) from None


@dataclass(frozen=True, slots=True)
class Money:
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        exponent(self.currency)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount_minor, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise DomainError("currency_mismatch", currency=other.currency)

    def to_decimal_string(self) -> str:
        return format_minor(self.amount_minor, self.currency)

    def __str__(self) -> str:
        return f"{self.to_decimal_string()} {self.currency}"


# What an amount may look like before anything converts it: plain ASCII digits, an
# optional fraction, a minus only so that it can be refused as not positive. No exponent
# ("1e320000" as an integer held the GIL for seconds), no "_" grouping, no digits of other
# scripts ("١٢"), no "+", no inner whitespace. The text is bounded before the match.
MAX_AMOUNT_TEXT = 40
MAX_INTEGER_DIGITS = 16  # 10**15 JPY has 16; CNY's 10**13 major units have 14
_PLAIN_AMOUNT = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?", re.ASCII)
_EDGE_SPACE = " \t\r\n"


def parse_amount(text: object, currency: str) -> int:
    """Turn the API's decimal string into positive minor units, or refuse clearly.

    Only the shape is checked until the text is known to be a plain decimal of bounded
    length; the arithmetic then runs on at most a few dozen digits."""
    exp = exponent(currency)
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise DomainError("invalid_amount")
    if isinstance(text, int):
        # Compared before scaling, so a huge integer costs nothing.
        return _in_range(text * 10**exp if abs(text) <= MAX_AMOUNT_MINOR else text)
    found = _plain(text)
    if found is None:
        raise DomainError("invalid_amount")
    sign, whole, fraction = found.group(1), found.group(2).lstrip("0"), found.group(3) or ""
    fraction = fraction.rstrip("0")
    if len(fraction) > exp:
        raise DomainError("amount_too_precise", currency=currency, places=exp)
    if sign and (whole or fraction):
        raise DomainError("amount_not_positive")
    if len(whole) > MAX_INTEGER_DIGITS:
        raise DomainError("amount_too_large")
    return _in_range(int((whole or "0") + fraction.ljust(exp, "0")))


def parse_amount_or_zero(text: object, currency: str) -> int:
    """Like `parse_amount`, but a plain zero ("0", "0.00") is 0: for settings where zero
    means off (password-free payments)."""
    found = _plain(text) if isinstance(text, str) else None
    if found is not None and not found.group(1):
        digits = found.group(2) + (found.group(3) or "")
        if not digits.strip("0"):
            return 0
    return parse_amount(text, currency)


def _plain(text: str) -> re.Match[str] | None:
    """The text's sign, whole and fraction digits, if it is a plain decimal of bounded
    length; the length is checked before the pattern runs."""
    if len(text) > MAX_AMOUNT_TEXT:
        return None
    return _PLAIN_AMOUNT.fullmatch(text.strip(_EDGE_SPACE))


def _in_range(minor: int) -> int:
    if minor <= 0:
        raise DomainError("amount_not_positive")
    if minor > MAX_AMOUNT_MINOR:
        raise DomainError("amount_too_large")
    return minor


def format_minor(amount_minor: int, currency: str) -> str:
    """Exact decimal string of minor units: 123456 CNY -> "1234.56"."""
    exp = exponent(currency)
    if exp == 0:
        return str(amount_minor)
    sign = "-" if amount_minor < 0 else ""
    whole, frac = divmod(abs(amount_minor), 10**exp)
    return f"{sign}{whole}.{frac:0{exp}d}"


def format_grouped(amount_minor: int, currency: str) -> str:
    """Display form with thousands separators: 123456789 CNY -> "1,234,567.89"."""
    text = format_minor(amount_minor, currency)
    sign = "-" if text.startswith("-") else ""
    body = text.lstrip("-")
    whole, _, frac = body.partition(".")
    grouped = f"{int(whole):,}"
    return f"{sign}{grouped}.{frac}" if frac else f"{sign}{grouped}"
