"""Checks on what customers type: ID numbers, cards, phones, login names, passwords."""

from __future__ import annotations

import itertools
import re
from datetime import date
from functools import cache
from pathlib import Path

from wangyin.errors import DomainError

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"^\d{17}[\dX]$")
_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
_USERNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")


def id_check_digit(first17: str) -> str:
    """GB 11643-1999 check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def normalize_id_number(raw: str) -> str:
    """Validate a mainland resident ID (18 characters, GB 11643 check digit, real birth date)."""
    value = raw.strip().upper()
    if not _ID_RE.match(value) or id_check_digit(value[:17]) != value[17]:
        raise DomainError("invalid_id_number")
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise DomainError("invalid_id_number") from None
    if born.year < 1900:
        raise DomainError("invalid_id_number")
    return value


def luhn_valid(number: str) -> bool:
    if not number.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def luhn_check_digit(partial: str) -> str:
    for d in "0123456789":
        if luhn_valid(partial + d):
            return d
    raise AssertionError("unreachable")


def normalize_card_number(raw: str) -> str:
    value = re.sub(r"[\s-]", "", raw)
    if not (16 <= len(value) <= 19) or not luhn_valid(value):
        raise DomainError("invalid_card_number")
    return value


def normalize_mobile(raw: str) -> str:
    value = re.sub(r"[\s-]", "", raw)
    if value.startswith("+86"):
        value = value[3:]
    if not _MOBILE_RE.match(value):
        raise DomainError("invalid_mobile")
    return value


def normalize_username(raw: str) -> str:
    value = raw.strip()
    if not _USERNAME_RE.match(value):
        raise DomainError("invalid_username")
    return value


@cache
def _common_passwords() -> frozenset[str]:
    path = Path(__file__).parent.parent / "data" / "common-passwords.txt"
    return frozenset(line.strip().lower() for line in path.read_text().splitlines() if line.strip())


def check_password_policy(
    password: str,
    *,
    id_number: str = "",
    mobile: str = "",
    username: str = "",
) -> None:
    """4.1.2.1-g: length, mixed classes, nothing guessable from the customer's own data."""
    if len(password) < 8:
        raise DomainError("weak_password", reason="at least 8 characters")
    if len(password) > 64:
        raise DomainError("weak_password", reason="at most 64 characters")
    classes = sum(
        [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
    )
    if classes < 2 or password.isdigit() or password.isalpha():
        raise DomainError("weak_password", reason="mix letters with digits or symbols")
    lowered = password.lower()
    if lowered in _common_passwords():
        raise DomainError("weak_password", reason="it is a commonly used password")
    # Said apart from the ID, phone and birthday: the customer must know which to change.
    if len(username) >= 6 and username.lower() in lowered:
        raise DomainError("weak_password", reason="it contains your login name")
    personal = [id_number, mobile]
    if id_number:
        personal += [id_number[6:14], id_number[8:14], id_number[-6:]]  # birthday, ID tail
    if mobile:
        personal.append(mobile[-6:])
    for item in personal:
        if item and len(item) >= 6 and item.lower() in lowered:
            raise DomainError("weak_password", reason="it contains your ID, phone or birthday")


def check_pin_policy(pin: str, *, id_number: str = "", mobile: str = "") -> None:
    """The transaction password: six digits, not guessable from the customer or a pattern."""
    if len(pin) != 6 or not pin.isdigit():
        raise DomainError("weak_password", reason="six digits")
    if len(set(pin)) == 1:
        raise DomainError("weak_password", reason="not one digit repeated")
    steps = {int(b) - int(a) for a, b in itertools.pairwise(pin)}
    if steps in ({1}, {-1}):
        raise DomainError("weak_password", reason="not a run like 123456")
    if (id_number and (pin in id_number[6:14] or pin == id_number[-6:])) or (
        mobile and pin in mobile
    ):
        raise DomainError("weak_password", reason="it contains your ID, phone or birthday")
