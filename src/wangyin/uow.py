"""Unit of work: one transaction per business action, rolled back unless committed.

`run_write` retries the whole action on serialization failures and deadlocks
(PostgreSQL 40001/40P01, and their cousins on distributed PostgreSQL-compatible engines),
on SQLite's "database is locked", and on a lost race for a unique key (the retry then
sees the winner's row, e.g. an idempotency record).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from wangyin.db import Database
from wangyin.errors import DomainError

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE_SQLSTATES = {"40001", "40P01"}
MAX_ATTEMPTS = 8


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True  # the server closed it (restart, failover): a new one will do
        orig = exc.orig
        if getattr(orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
            return True
        text = str(orig).lower()
        return "database is locked" in text or "database is busy" in text
    return False


class UnitOfWork:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._committed = False

    def __enter__(self) -> UnitOfWork:
        return self

    def commit(self) -> None:
        self.session.commit()
        self._committed = True

    def __exit__(self, *exc: object) -> None:
        try:
            if not self._committed:
                self.session.rollback()
        finally:
            self.session.close()


def run_write(db: Database, action: Callable[[Session], T]) -> T:
    """Run `action` in a fresh write transaction, commit, and retry when the database asks."""
    attempt = 0
    while True:
        attempt += 1
        try:
            with db.write_lock, UnitOfWork(db.write_sessions()) as uow:
                result = action(uow.session)
                uow.commit()
                return result
        except DomainError:
            raise
        except (DBAPIError, IntegrityError) as exc:
            if attempt >= MAX_ATTEMPTS or not is_retryable(exc):
                if is_retryable(exc) and not isinstance(exc, IntegrityError):
                    raise DomainError("busy") from exc
                raise
            # Exponential backoff with full jitter keeps retries from colliding again.
            delay = random.uniform(0, min(0.2, 0.002 * 2**attempt))  # noqa: S311 - jitter only
            log.info("retrying transaction (attempt %d) after %s", attempt, type(exc).__name__)
            time.sleep(delay)


def run_read(db: Database, action: Callable[[Session], T]) -> T:
    """Run a read-only action. Closing (not rolling back) keeps what it loaded readable."""
    session = db.read_sessions()
    try:
        return action(session)
    finally:
        session.close()
