"""Unit of work: one transaction per business action, rolled back unless committed.

`run_write` retries the whole action on serialization failures and deadlocks
(PostgreSQL 40001/40P01, and their cousins on distributed PostgreSQL-compatible engines),
on SQLite's "database is locked", on a lost race for a unique key (the retry then sees the
winner's row, e.g. an idempotency record), and on a connection that broke *before* COMMIT
(nothing was committed, so doing it again is safe).

What it never does is guess. When the connection breaks while COMMIT is on its way, the
transaction may or may not have committed: that is `outcome_unknown` (503), never
"nothing changed". A retry of the same request with its Idempotency-Key then returns the
real first result, because the idempotency record commits with the action (rule 4).
When the database cannot be reached at all, the answer is `service_unavailable` (503).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from wangyin.db import Database, commit
from wangyin.dbfaults import RETRY_AFTER_SECONDS, is_connection_lost
from wangyin.errors import DomainError

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE_SQLSTATES = {"40001", "40P01"}
MAX_ATTEMPTS = 8


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    if is_connection_lost(exc):
        return True  # before COMMIT: nothing was committed, a new connection will do
    if isinstance(exc, DBAPIError):
        if getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
            return True
        text = str(exc.orig).lower()
        return "database is locked" in text or "database is busy" in text
    return False


class UnitOfWork:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._committed = False

    def __enter__(self) -> UnitOfWork:
        return self

    def commit(self) -> None:
        """Commit, or say that nobody knows whether it committed."""
        try:
            # The deferred writes go with the COMMIT (one round trip on PostgreSQL): if the
            # connection breaks there, nobody knows whether the transaction committed.
            commit(self.session)
        except (DBAPIError, PoolTimeout) as exc:
            if is_connection_lost(exc):
                raise DomainError("outcome_unknown", retry_after=RETRY_AFTER_SECONDS) from exc
            raise
        self._committed = True

    def __exit__(self, *exc: object) -> None:
        try:
            if not self._committed:
                self.session.rollback()
        except DBAPIError:
            pass  # the connection is gone; the server rolls the transaction back itself
        finally:
            self.session.close()


def run_write(db: Database, action: Callable[[Session], T]) -> T:
    """Run `action` in a fresh write transaction, commit, and retry when the database asks.

    A `DomainError` raised by `action` rolls the transaction back, unless it is marked
    `keep`: then its bookkeeping (the refusal stored under the Idempotency-Key, a counted
    wrong PIN or code) is committed first, in the transaction that decided it."""
    attempt = 0
    while True:
        attempt += 1
        try:
            with db.write_lock, UnitOfWork(db.write_sessions()) as uow:
                try:
                    result = action(uow.session)
                except DomainError as refusal:
                    if refusal.keep:
                        uow.commit()  # the refusal's stored answer and counting stand
                    raise
                uow.commit()
                return result
        except DomainError:
            raise
        except (DBAPIError, PoolTimeout) as exc:
            if attempt >= MAX_ATTEMPTS or not is_retryable(exc):
                if is_connection_lost(exc):
                    raise DomainError(
                        "service_unavailable", retry_after=RETRY_AFTER_SECONDS
                    ) from exc
                if is_retryable(exc) and not isinstance(exc, IntegrityError):
                    raise DomainError("busy", retry_after=RETRY_AFTER_SECONDS) from exc
                raise
            db.stats.retries += 1
            if getattr(getattr(exc, "orig", None), "sqlstate", None) == "40P01":
                db.stats.deadlocks += 1
                log.warning("deadlock, transaction retried: the lock order was not kept")
            # Exponential backoff with full jitter keeps retries from colliding again; a
            # lost connection waits longer, for the server to come back.
            cap = 0.5 if is_connection_lost(exc) else 0.2
            delay = random.uniform(0, min(cap, 0.002 * 2**attempt))  # noqa: S311 - jitter only
            log.info("retrying transaction (attempt %d) after %s", attempt, type(exc).__name__)
            time.sleep(delay)


def run_read(db: Database, action: Callable[[Session], T]) -> T:
    """Run a read-only action. It ends with COMMIT, not ROLLBACK: psycopg 3 drops every
    prepared statement on ROLLBACK, and a read has nothing to undo."""
    session = db.read_sessions()
    try:
        try:
            result = action(session)
            session.commit()
        except (DBAPIError, PoolTimeout) as exc:
            if is_connection_lost(exc):
                raise DomainError("service_unavailable", retry_after=RETRY_AFTER_SECONDS) from exc
            raise
        return result
    finally:
        session.close()
