"""Is the database there? Classify "it went away" errors and log an outage once.

When PostgreSQL is killed, restarted or failed over, every request that needs it fails
the same way. The web layer answers those `503 service_unavailable` with `Retry-After`
(see `wangyin.app`), and this module keeps the log readable: one warning when the
database goes away, one when it answers again (with how many requests were refused in
between), instead of a traceback per request.

"Back" is detected where it is cheapest and surest: a listener on the engine's
`after_cursor_execute` event, which costs one attribute check per statement while the
database is up. Only a statement the database actually answered counts, so requests
that never touch it (`/healthz`, static files, redirects) cannot end an outage early.
A short settle time keeps a database that flaps (or a pool that times out under
overload, between successes) from logging a pair of lines per request.

Nothing here logs SQL, parameters or tracebacks: parameters can carry personal data.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from wangyin.dbfaults import (
    DATABASE_EXCEPTIONS as DATABASE_EXCEPTIONS,
)
from wangyin.dbfaults import (
    RETRY_AFTER_SECONDS as RETRY_AFTER_SECONDS,
)
from wangyin.dbfaults import driver_error, is_connection_lost
from wangyin.errors import DomainError

log = logging.getLogger(__name__)


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database cannot be reached (or written) at all, as opposed
    to a bug, a constraint or a conflict in this one request."""
    if isinstance(exc, DomainError):
        return exc.code == "service_unavailable"
    return is_connection_lost(exc)


def describe(exc: BaseException) -> str:
    """A short, parameter-free description of why the database is unavailable: the
    driver's exception class, its SQLSTATE and the first line of its message (the
    message of a connection failure names the server, never a statement or its data)."""
    if isinstance(exc, DomainError) and exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, DomainError):
        return exc.code
    orig = driver_error(exc)
    sqlstate = getattr(orig, "sqlstate", None)
    first_line = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    if isinstance(exc, PoolTimeoutError):
        first_line = "no pooled connection became free in time"
    name = type(orig).__name__ + (f" {sqlstate}" if sqlstate else "")
    return f"{name}: {first_line[:200]}" if first_line else name


class DatabaseAvailability:
    """Per-process outage state: thread-safe, one warning per outage and one on return."""

    def __init__(
        self,
        *,
        settle_seconds: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._monotonic = monotonic
        self.settle_seconds = settle_seconds
        # Read without the lock on the hot path: a stale read only delays the check.
        self.down = False
        self._since = 0.0
        self._last_failure = 0.0
        self._refused = 0

    @property
    def refused_count(self) -> int:
        """Requests refused in the current outage (0 when the database is up)."""
        return self._refused

    def refused(self, exc: BaseException | None = None) -> None:
        """A request was answered 503 because the database is unavailable."""
        now = self._monotonic()
        with self._lock:
            self._refused += 1
            self._last_failure = now
            if self.down:
                return
            self.down = True
            self._since = now
        log.warning(
            "database unavailable (%s); answering 503 service_unavailable until it is back",
            describe(exc) if exc is not None else "unknown cause",
        )

    def answered(self) -> None:
        """The database answered a statement. Cheap when it is up: one attribute check."""
        if not self.down:
            return
        now = self._monotonic()
        with self._lock:
            if not self.down or now - self._last_failure < self.settle_seconds:
                return
            self.down = False
            refused, self._refused = self._refused, 0
            lasted = now - self._since
        # A warning, like the outage line, so it shows wherever the outage did (the
        # `wangyin serve` default shows warnings and above).
        log.warning(
            "database available again after %.1f s; %d requests refused meanwhile",
            lasted,
            refused,
        )

    def watch(self, engine: Engine) -> None:
        """Learn that the database is back from the first statement it answers."""

        def _after_cursor_execute(*_args: Any) -> None:
            if self.down:
                self.answered()

        event.listen(engine, "after_cursor_execute", _after_cursor_execute)


def availability_of(app: Any) -> DatabaseAvailability:
    """The tracker `create_app` put on the app (a fresh one if it has none, e.g. tests)."""
    tracker = getattr(app.state, "db_availability", None)
    if tracker is None:
        tracker = DatabaseAvailability()
        app.state.db_availability = tracker
    return tracker
