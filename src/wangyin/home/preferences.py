"""The customer's home-page choices: the hide-amounts eye and the pinned quick functions
(5.2.2-d), validated against the function catalogue. Changes are decided under the
preference row's lock (the at-most-8 rule counts what is pinned)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from wangyin.errors import DomainError
from wangyin.experience.catalogue import BY_KEY, FUNCTIONS, Entry
from wangyin.home import errors as _errors  # noqa: F401 - registers the home error codes
from wangyin.home.models import HomePreference

QUICK_MAX = 8
# What a customer who never chose sees: the everyday tasks first.
QUICK_DEFAULTS = ("accounts", "transfer", "mobile_transfer", "payees", "schedules", "security")
# Not offered for pinning: the all-functions page is always the grid's last tile;
# "forgot password" and the demo are for those not logged in.
NOT_PINNABLE = frozenset({"functions", "forgot", "demo"})
MOVES = ("pin", "unpin", "up", "down")


@dataclass(frozen=True)
class Preferences:
    amounts_hidden: bool
    quick: tuple[str, ...]
    chosen: bool  # False: the bank's defaults


def pinnable() -> list[Entry]:
    return [e for e in FUNCTIONS if e.kind == "function" and e.key not in NOT_PINNABLE]


def entries(keys: tuple[str, ...] | list[str]) -> list[Entry]:
    return [BY_KEY[k] for k in keys]


def validate(keys: list[str]) -> tuple[str, ...]:
    """The customer's list, refused whole when a key is unknown, repeated or one too many."""
    allowed = {e.key for e in pinnable()}
    seen: set[str] = set()
    for key in keys:
        if key not in allowed:
            raise DomainError("unknown_function", key=key[:40])
        if key in seen:
            raise DomainError("duplicate_function", key=key)
        seen.add(key)
    if len(keys) > QUICK_MAX:
        raise DomainError("too_many_quick_functions", limit=QUICK_MAX)
    return tuple(keys)


def _decode(stored: str | None) -> tuple[str, ...]:
    if stored is None:
        return QUICK_DEFAULTS
    # A function the catalogue has since dropped disappears from the grid quietly.
    allowed = {e.key for e in pinnable()}
    return tuple(k for k in stored.split(",") if k in allowed)


def read(session: Session, *, customer_id: int) -> Preferences:
    row = session.get(HomePreference, customer_id)
    if row is None:
        return Preferences(amounts_hidden=False, quick=QUICK_DEFAULTS, chosen=False)
    return Preferences(
        amounts_hidden=row.amounts_hidden,
        quick=_decode(row.quick_functions),
        chosen=row.quick_functions is not None,
    )


def _locked(session: Session, *, customer_id: int, now: datetime) -> HomePreference:
    """The customer's row, created if missing (two first choices at once: one insert wins,
    the other does nothing), then locked for the rest of the transaction."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(HomePreference)
        .values(customer_id=customer_id, amounts_hidden=False, updated_at=now)
        .on_conflict_do_nothing(index_elements=["customer_id"])
    )
    return session.scalars(
        select(HomePreference)
        .where(HomePreference.customer_id == customer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def set_amounts_hidden(
    session: Session, *, customer_id: int, hidden: bool, now: datetime
) -> Preferences:
    row = _locked(session, customer_id=customer_id, now=now)
    row.amounts_hidden = hidden
    row.updated_at = now
    session.flush()
    return read(session, customer_id=customer_id)


def set_quick(session: Session, *, customer_id: int, keys: list[str], now: datetime) -> Preferences:
    wanted = validate(keys)
    row = _locked(session, customer_id=customer_id, now=now)
    row.quick_functions = ",".join(wanted)
    row.updated_at = now
    session.flush()
    return read(session, customer_id=customer_id)


def move(
    session: Session, *, customer_id: int, action: str, key: str, now: datetime
) -> Preferences:
    """One change from the page's buttons: pin, unpin, up or down, on the list as it is
    under the lock (two tabs pinning at once cannot get past eight)."""
    if action not in MOVES:
        raise DomainError("validation_error")
    row = _locked(session, customer_id=customer_id, now=now)
    keys = list(_decode(row.quick_functions))
    if action == "pin":
        if key not in keys:
            keys.append(key)
    elif key not in keys:
        raise DomainError("function_not_pinned", key=key[:40])
    elif action == "unpin":
        keys.remove(key)
    else:
        at = keys.index(key)
        to = at - 1 if action == "up" else at + 1
        if 0 <= to < len(keys):
            keys[at], keys[to] = keys[to], keys[at]
    row.quick_functions = ",".join(validate(keys))
    row.updated_at = now
    session.flush()
    return read(session, customer_id=customer_id)
