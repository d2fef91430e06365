"""Money in integer minor units.

Amounts never touch floats: the API carries decimal strings ("1234.56"), the database
stores integers in the currency's minor unit, and the conversion between the two is
exact or refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

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


def parse_amount(text: object, currency: str) -> int:
    """Turn the API's decimal string into positive minor units, or refuse clearly."""
    exp = exponent(currency)
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise DomainError("invalid_amount")
    raw = str(text).strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise DomainError("invalid_amount") from None
    if not value.is_finite():
        raise DomainError("invalid_amount")
    scaled = value.scaleb(exp)
    if scaled != scaled.to_integral_value():
        raise DomainError("amount_too_precise", currency=currency, places=exp)
    minor = int(scaled)
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
