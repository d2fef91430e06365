"""One-time codes by SMS or voice (4.3.1.3, 4.3.1.4, ASVS 6.5/6.6).

Six digits from `secrets`, valid once for 60 s, at most 3 wrong tries, at most N codes a
customer a day (forgotten-password codes on a budget of their own). Only an HMAC of
(purpose, binding, code) is stored, so a code issued for one transfer's key data cannot
confirm another transfer or a changed amount.

Tries are counted under the locks of the transaction that decides (ARCHITECTURE rule 9):
`take_try` locks the customer's user row, then the code's row, and counts the try before
anything is compared; a refusal is raised with `keep`, so the unit of work commits the
count with it. N concurrent wrong attempts therefore consume N tries, and the
(limit+1)-th is refused whatever it carries. Locks are always taken user row first, then
code rows (`issue` too), so code paths never deadlock on each other.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from wangyin.clock import as_utc, bank_date, bank_day_bounds_utc
from wangyin.config import Settings
from wangyin.db import table_of
from wangyin.errors import DomainError
from wangyin.i18n import DEFAULT_LANGUAGE, gettext
from wangyin.identity.models import Customer, OtpCode, User
from wangyin.notify import service as notify
from wangyin.security import audit
from wangyin.security.audit import Client
from wangyin.security.crypto import constant_time_equal, keyed_hash

# The texts of the codes, in the customer's language (the request's: see `text_of`); the
# Chinese lives in the catalog (experience.po). The transfer code's warns like the device's
# (issue 9).
PURPOSES = {
    "login": (
        "Your login code is {code}, valid for 60 seconds. If this was not you, call the "
        "bank at once."
    ),
    "device": (
        "Your code to bind a new device is {code}, valid for 60 seconds. Never tell "
        "anyone this code."
    ),
    "transfer": (
        "Transfer code {code}: {amount} {currency} to the account ending {tail}, valid "
        "for 60 seconds. Never tell anyone this code, not even bank staff."
    ),
    "unfreeze": "Your code to unfreeze online banking is {code}, valid for 60 seconds.",
    "reset": (
        "Your code to reset your password is {code}, valid for 60 seconds. If this was "
        "not you, call the bank at once."
    ),
    "register": (
        "Your online banking registration code is {code}, valid for 60 seconds. If you "
        "did not apply, tell no one and call the bank."
    ),
    "alias": (
        "Your code to receive transfers by mobile number is {code}, valid for 60 seconds."
        " Never tell anyone this code."
    ),
    "settings": (
        "Your code to raise a transfer limit or turn on password-free payments is {code},"
        " valid for 60 seconds. If this was not you, call the bank at once."
    ),
}


_USERS = table_of(User)


def text_of(purpose: str, client: Client | None, **fields: str) -> str:
    """A code's message in the language of the request that asked for it (Chinese when
    no request did)."""
    return gettext(PURPOSES[purpose], client.language if client else DEFAULT_LANGUAGE, **fields)


# Forgotten-password codes a customer can be sent a bank day, apart from `otp_daily_cap`.
RESET_DAILY_CAP = 3


def _code_hash(settings: Settings, purpose: str, binding: str, code: str) -> str:
    return keyed_hash(settings.secret_key.encode(), f"{purpose}|{binding}|{code}".encode())


def code_hash(settings: Settings, purpose: str, binding: str, code: str) -> str:
    """The keyed hash a code is kept as, for codes kept outside `otp_codes` (registration,
    before any user exists)."""
    return _code_hash(settings, purpose, binding, code)


def new_code() -> str:
    """Six digits from the CSPRNG, leading zeros kept."""
    return f"{secrets.randbelow(10**6):06d}"


def lock_user(session: Session, *, user_id: int) -> None:
    """Take the customer's user row lock: the first lock of every code path (PostgreSQL
    `FOR UPDATE`; SQLite's write transaction already holds the database)."""
    session.execute(select(_USERS.c.id).where(_USERS.c.id == user_id).with_for_update())


def issue(
    session: Session,
    *,
    user: User,
    purpose: str,
    binding: str,
    channel: str,
    at: datetime,
    settings: Settings,
    message_fields: dict[str, str] | None = None,
    client: Client | None = None,
    audit_details: dict[str, str] | None = None,
) -> None:
    """Send a new code; earlier unused codes for the same purpose and binding stop working.
    The issue is audited (who, where, purpose, channel); the code itself never is."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    if channel not in notify.CHANNELS:
        raise DomainError("validation_error")
    lock_user(session, user_id=user.id)  # the day's count and the insert, one at a time
    start, end = bank_day_bounds_utc(bank_date(at))
    # Reset codes have a budget of their own: anyone who knows the ID and card number can
    # ask for them, and must not be able to spend the customer's login codes (issue 11 #6).
    reset = purpose == "reset"
    cap = RESET_DAILY_CAP if reset else settings.otp_daily_cap
    same_budget = OtpCode.purpose == "reset" if reset else OtpCode.purpose != "reset"
    issued_today = session.scalar(
        select(func.count(OtpCode.id)).where(
            OtpCode.user_id == user.id,
            OtpCode.created_at >= start,
            OtpCode.created_at < end,
            same_budget,
        )
    )
    if (issued_today or 0) >= cap:
        raise DomainError("otp_daily_cap", cap=cap)
    session.execute(
        update(OtpCode)
        .where(
            OtpCode.user_id == user.id,
            OtpCode.purpose == purpose,
            OtpCode.binding == binding,
            OtpCode.used_at.is_(None),
        )
        .values(used_at=at)
    )
    code = new_code()
    session.add(
        OtpCode(
            user_id=user.id,
            purpose=purpose,
            binding=binding,
            channel=channel,
            code_hash=_code_hash(settings, purpose, binding, code),
            attempts=0,
            created_at=at,
            expires_at=at + timedelta(seconds=settings.otp_valid_seconds),
        )
    )
    customer = session.get_one(Customer, user.customer_id)
    text = text_of(purpose, client, code=code, **(message_fields or {}))
    notify.enqueue(
        session, channel=channel, phone=customer.mobile, text=text, purpose=purpose, at=at
    )
    audit.append(
        session,
        event="code_issued",
        outcome="success",
        actor=user.public_id,
        at=at,
        client=client,
        customer_id=user.customer_id,
        details={"purpose": purpose, "channel": channel, **(audit_details or {})},
    )


def _latest(session: Session, *, user_id: int, purpose: str, binding: str) -> OtpCode | None:
    return session.scalars(
        select(OtpCode)
        .where(OtpCode.user_id == user_id, OtpCode.purpose == purpose, OtpCode.binding == binding)
        .order_by(OtpCode.id.desc())
        .limit(1)
        .with_for_update()
    ).first()


def usable_code(
    session: Session,
    *,
    user_id: int,
    purpose: str,
    binding: str,
    at: datetime,
    settings: Settings,
) -> OtpCode:
    """The live code for this purpose and binding, or why there is none."""
    row = _latest(session, user_id=user_id, purpose=purpose, binding=binding)
    if row is None or row.used_at is not None:
        raise DomainError("otp_invalid")
    if at >= as_utc(row.expires_at):
        raise DomainError("otp_expired")
    if row.attempts >= settings.otp_max_attempts:
        raise DomainError("otp_too_many_attempts")
    return row


def matches(row: OtpCode, *, code: str, settings: Settings) -> bool:
    expected = _code_hash(settings, row.purpose, row.binding, code.strip())
    return constant_time_equal(expected, row.code_hash)


def accept(session: Session, row: OtpCode, *, at: datetime) -> None:
    """Spend the code and audit the success."""
    row.used_at = at
    user = session.get_one(User, row.user_id)
    audit.append(
        session,
        event="code_checked",
        outcome="success",
        actor=user.public_id,
        at=at,
        customer_id=user.customer_id,
        details={"purpose": row.purpose},
    )


def take_try(
    session: Session,
    *,
    user_id: int,
    purpose: str,
    binding: str,
    at: datetime,
    settings: Settings,
) -> OtpCode:
    """Lock the live code and count this try on it before anything is compared; refuse
    when there is none, it has expired or its tries are used up."""
    lock_user(session, user_id=user_id)
    row = usable_code(
        session, user_id=user_id, purpose=purpose, binding=binding, at=at, settings=settings
    )
    row.attempts += 1
    return row


def refusal(
    session: Session,
    row: OtpCode,
    *,
    at: datetime,
    client: Client | None = None,
    code: str = "otp_invalid",
) -> DomainError:
    """The refusal of a counted try (a wrong code, or a wrong factor checked with it),
    audited, with `keep` set so that the deciding transaction commits the count."""
    user = session.get_one(User, row.user_id)
    audit.append(
        session,
        event="code_checked",
        outcome="failure",
        actor=user.public_id,
        at=at,
        client=client,
        customer_id=user.customer_id,
        details={"purpose": row.purpose},
    )
    error = DomainError(code)
    error.keep = True
    return error


def check(
    session: Session,
    *,
    user_id: int,
    purpose: str,
    binding: str,
    code: str,
    at: datetime,
    settings: Settings,
    client: Client | None = None,
) -> None:
    """Accept the code once, or raise. The try is counted in this transaction: a wrong code
    raises `otp_invalid` with `keep`, so the count commits with the refusal."""
    row = take_try(
        session, user_id=user_id, purpose=purpose, binding=binding, at=at, settings=settings
    )
    if not matches(row, code=code, settings=settings):
        raise refusal(session, row, at=at, client=client)
    accept(session, row, at=at)


def record_wrong_code(
    session: Session,
    *,
    user_id: int,
    purpose: str,
    binding: str,
    settings: Settings,
    at: datetime,
    client: Client | None = None,
) -> None:
    """Count a wrong code against the code it was meant for, and audit the failure, in the
    transaction that compared it (the transfer confirmation, which locked the row with
    `usable_code`). Once its tries are used up, `usable_code` refuses the code."""
    row = _latest(session, user_id=user_id, purpose=purpose, binding=binding)
    if row is not None and row.used_at is None:
        row.attempts += 1
    user = session.get_one(User, user_id)
    audit.append(
        session,
        event="code_checked",
        outcome="failure",
        actor=user.public_id,
        at=at,
        client=client,
        customer_id=user.customer_id,
        details={"purpose": purpose},
    )
