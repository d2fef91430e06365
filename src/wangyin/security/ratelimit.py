"""Rate limits kept in the database (4.1.2.x, ASVS 6.6.3), so app nodes stay stateless.

One row per key ("ip:login:203.0.113.7", "account:code:42"): a count and the window it
belongs to. A window starts at a key's first hit and lasts `window_seconds`; the first
hit after it ends starts a new one. Each hit is a single upsert
(`INSERT … ON CONFLICT (key) DO UPDATE … RETURNING count`), which PostgreSQL runs under
the row's lock and SQLite under its database write lock, so concurrent hits on any number
of nodes are each counted exactly once.

A refused hit raises `DomainError("rate_limited", retry_after=seconds)`; the surrounding
transaction then rolls back, so refusals do not lengthen the lock-out. A hit is made in
the transaction of the action it counts, and counts when the action succeeds or is
refused with `keep` (its refusal's bookkeeping commits, `uow.run_write`); `count_then`
does both for a customer's code and login requests, so a refused request still counts
without a transaction of its own.

The same counters remember other things about a key for a while (`count`, `active_until`,
`forget`): the consecutive failed logins and the timed lock of a login name that belongs to
nobody, so that unknown names are answered exactly like real ones (issue 11 #12).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, TypeVar

from sqlalchemy import DateTime, Integer, String, Table, case, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from wangyin.clock import as_utc
from wangyin.db import Base
from wangyin.errors import DomainError
from wangyin.security.fields import lookup_hash

if TYPE_CHECKING:
    from wangyin.config import Settings

Rule = Literal["login", "register", "reset", "code", "channel"]
AccountAction = Literal["login", "code"]
T = TypeVar("T")

LOGIN_PATHS = frozenset({"/api/v1/auth/login", "/login"})
REGISTER_PATHS = frozenset({"/api/v1/auth/register", "/register"})
# Forgotten-password starts: like registration, they match an ID number with a card.
RESET_PATHS = frozenset({"/api/v1/auth/password/reset", "/password/forgot"})

# Forgotten-password starts per ID number and per card number (issue 11 #6), whatever the
# IP: enough for a customer who mistypes, too few to test cards against ID numbers.
RESET_PER_IDENTITY = 5
RESET_IDENTITY_WINDOW_SECONDS = 3600
# Unauthenticated calls that store a row: channel handshakes and soft-keyboard layouts.
CHANNEL_PATHS = frozenset({"/api/v1/channel", "/api/v1/keyboard"})


class RateLimitCounter(Base):
    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # End of the window; also what `purge` deletes by.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


def hit(session: Session, *, key: str, limit: int, window_seconds: int, at: datetime) -> None:
    """Count one request for `key`; refuse it when the window already holds `limit`."""
    if limit < 1:
        raise ValueError("a rate limit needs limit >= 1 and window_seconds >= 1")
    at = as_utc(at)
    counted, expires_at = _count(session, key=key, window_seconds=window_seconds, at=at)
    if counted > limit:
        wait = (as_utc(expires_at) - at).total_seconds()
        raise DomainError("rate_limited", retry_after=max(1, math.ceil(wait)))


def count(session: Session, *, key: str, window_seconds: int, at: datetime) -> int:
    """Count one event for `key` and return how many its window now holds (no limit)."""
    return _count(session, key=key, window_seconds=window_seconds, at=as_utc(at))[0]


def active_until(session: Session, *, key: str, at: datetime) -> datetime | None:
    """The end of `key`'s window when it is still running, else None."""
    table: Table = RateLimitCounter.__table__  # type: ignore[assignment]
    ends = session.scalar(select(table.c.expires_at).where(table.c.key == key))
    if ends is None or as_utc(ends) <= as_utc(at):
        return None
    return as_utc(ends)


def give_back(session: Session, *, key: str, at: datetime) -> None:
    """Un-count one event of `key`'s running window: what it was counted for did not
    happen (e.g. the network that was to answer it did not)."""
    table: Table = RateLimitCounter.__table__  # type: ignore[assignment]
    session.execute(
        update(table)
        .where(table.c.key == key, table.c.count > 0, table.c.expires_at > as_utc(at))
        .values(count=table.c.count - 1)
    )


def forget(session: Session, *, key: str) -> None:
    """Drop `key`'s counter: its next event starts a new window."""
    session.execute(delete(RateLimitCounter).where(RateLimitCounter.key == key))


def _count(
    session: Session, *, key: str, window_seconds: int, at: datetime
) -> tuple[int, datetime]:
    if window_seconds < 1:
        raise ValueError("a rate limit needs limit >= 1 and window_seconds >= 1")
    table: Table = RateLimitCounter.__table__  # type: ignore[assignment]
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(table).values(
        key=key, count=1, started_at=at, expires_at=at + timedelta(seconds=window_seconds)
    )
    # Every SET expression sees the old row, so all three agree on whether it had expired.
    expired = table.c.expires_at <= stmt.excluded.started_at
    upsert = stmt.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={
            "count": case((expired, 1), else_=table.c.count + 1),
            "started_at": case((expired, stmt.excluded.started_at), else_=table.c.started_at),
            "expires_at": case((expired, stmt.excluded.expires_at), else_=table.c.expires_at),
        },
    ).returning(table.c.count, table.c.expires_at)
    counted, expires_at = session.execute(upsert).one()
    return int(counted), expires_at


def purge(session: Session, *, at: datetime) -> int:
    """Delete counters whose window has ended (housekeeping; they would be reset anyway)."""
    ended = RateLimitCounter.expires_at <= as_utc(at)
    result = session.execute(delete(RateLimitCounter).where(ended))
    return int(getattr(result, "rowcount", 0) or 0)


def rule_for(method: str, path: str) -> Rule | None:
    """Which per-IP rule guards this request, if any."""
    if method != "POST":
        return None
    path = path.rstrip("/") or "/"
    if path in LOGIN_PATHS:
        return "login"
    if path in REGISTER_PATHS:
        return "register"
    if path in RESET_PATHS:
        return "reset"
    if path in CHANNEL_PATHS:
        return "channel"
    if path.endswith("/code") or path.endswith("/otp"):
        return "code"
    return None


def client_key(ip: str) -> str:
    """The client an IP stands for: IPv4 as is (also when IPv4-mapped), IPv6 by its /64,
    since one subscriber usually holds a whole /64."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64] or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def ip_limit(rule: Rule, settings: Settings) -> tuple[int, int]:
    """(limit, window_seconds) of a per-IP rule."""
    limits = {
        "login": (settings.ratelimit_login_per_ip, settings.ratelimit_login_ip_window_seconds),
        "register": (
            settings.ratelimit_register_per_ip,
            settings.ratelimit_register_ip_window_seconds,
        ),
        # The same allowance as registration, counted apart.
        "reset": (
            settings.ratelimit_register_per_ip,
            settings.ratelimit_register_ip_window_seconds,
        ),
        "code": (settings.ratelimit_code_per_ip, settings.ratelimit_code_ip_window_seconds),
        "channel": (
            settings.ratelimit_channel_per_ip,
            settings.ratelimit_channel_ip_window_seconds,
        ),
    }
    return limits[rule]


def limit_ip(session: Session, *, ip: str, rule: Rule, at: datetime, settings: Settings) -> None:
    """Count a request from `ip` under `rule`; raise `rate_limited` past the limit."""
    if not settings.ratelimit_enabled:
        return
    limit, window = ip_limit(rule, settings)
    hit(session, key=f"ip:{rule}:{client_key(ip)}", limit=limit, window_seconds=window, at=at)


def login_name_key(login: str) -> str:
    """What a login name (or mobile number) is counted by, whether or not anyone has it:
    its keyed look-up hash, so the table never holds the name itself."""
    return lookup_hash(login.strip())


def limit_login_name(session: Session, *, login: str, at: datetime, settings: Settings) -> None:
    """Count a login attempt for a login name; raise `rate_limited` past the per-customer
    login limit. Counted by the name, not by the customer it may belong to, so an unknown
    name meets the same limit as a real one (issue 11 #12). Call it inside the login's own
    transaction: a refused login keeps the count (see the module docstring)."""
    if not settings.ratelimit_enabled:
        return
    hit(
        session,
        key=f"login:{login_name_key(login)}",
        limit=settings.ratelimit_login_per_account,
        window_seconds=settings.ratelimit_login_account_window_seconds,
        at=at,
    )


def limit_reset_identity(
    session: Session, *, id_number: str, card_number: str, at: datetime, settings: Settings
) -> None:
    """Count a forgotten-password start for its ID number and for its card (by their look-up
    hashes); raise `rate_limited` when either has had `RESET_PER_IDENTITY` this window.
    Call it inside the start's own transaction, whose refusals keep the counts."""
    if not settings.ratelimit_enabled:
        return
    for key in (f"reset:id:{lookup_hash(id_number)}", f"reset:card:{lookup_hash(card_number)}"):
        hit(
            session,
            key=key,
            limit=RESET_PER_IDENTITY,
            window_seconds=RESET_IDENTITY_WINDOW_SECONDS,
            at=at,
        )


def limit_account(
    session: Session, *, user_id: int, action: AccountAction, at: datetime, settings: Settings
) -> None:
    """Count a login or one-time-code request for one customer; raise `rate_limited` past
    the limit. In the request's own transaction, refusals kept (`count_then`)."""
    if not settings.ratelimit_enabled:
        return
    if action == "login":
        limit = settings.ratelimit_login_per_account
        window = settings.ratelimit_login_account_window_seconds
    elif action == "code":
        limit = settings.ratelimit_code_per_account
        window = settings.ratelimit_code_account_window_seconds
    else:
        raise ValueError(f"unknown rate-limited action {action!r}")
    hit(session, key=f"account:{action}:{user_id}", limit=limit, window_seconds=window, at=at)


def count_then(
    session: Session,
    *,
    user_id: int | None,
    action: AccountAction,
    at: datetime,
    settings: Settings,
    then: Callable[[], T],
) -> T:
    """Count one `action` request of a customer (none for an unknown one) and make it, in
    the caller's one transaction: a refusal of the request itself commits the count with
    it (`keep`: the attempt was made); a refusal by the limit rolls everything back."""
    if user_id is not None:
        limit_account(session, user_id=user_id, action=action, at=at, settings=settings)
    try:
        return then()
    except DomainError as refusal:
        refusal.keep = True
        raise
