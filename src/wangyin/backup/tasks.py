"""The worker's daily full backup (WANGYIN_BACKUP_DAILY_AT, bank time).

Whether today's backup is done is read from the backups themselves (the newest one's
stop time), not from a table, so any number of workers agree, and a backup made by hand
after the scheduled time counts. One worker at a time takes it: a PostgreSQL advisory
lock (SQLite: a file lock beside the copies), then the question is asked again under it.
The backup runs in a thread of its own, so the outbox keeps being delivered meanwhile.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import threading
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path

from sqlalchemy import text

from wangyin.backup import service
from wangyin.clock import BANK_TZ, Clock
from wangyin.config import Settings
from wangyin.db import Database

log = logging.getLogger(__name__)

# pg_advisory_lock key of "the backup is being taken" (any constant of our own).
ADVISORY_KEY = 0x77795F6261636B  # "wy_back"
RETRY_AFTER = timedelta(minutes=15)


def scheduled_moment(settings: Settings, now: datetime) -> datetime | None:
    """Today's (bank day) scheduled moment once it has come; None before it, or unset."""
    if not settings.backup_daily_at:
        return None
    hour, minute = (int(part) for part in settings.backup_daily_at.split(":"))
    local = now.astimezone(BANK_TZ)
    moment = datetime.combine(local.date(), time(hour, minute), tzinfo=BANK_TZ)
    return moment if local >= moment else None


@contextlib.contextmanager
def exclusive(settings: Settings, db: Database) -> Iterator[bool]:
    """True to the one worker that may back up now; False to the others."""
    if settings.is_sqlite:
        directory = Path(settings.backup_dir)
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / ".backup.lock").open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    # A session lock on a connection of its own (autocommit: no transaction left open
    # for the hours a backup may take).
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        got = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}))
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})


class DailyBackup:
    """Call tick() from the worker loop; it starts the day's backup when it is due."""

    def __init__(self, settings: Settings, *, db: Database, clock: Clock) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self._done_for: datetime | None = None  # the scheduled moment already covered
        self._not_before: datetime | None = None  # after a failure
        self._thread: threading.Thread | None = None

    def tick(self) -> threading.Thread | None:
        """Start the backup in a thread if one is due; the thread, or None."""
        now = self.clock.now()
        scheduled = scheduled_moment(self.settings, now)
        if scheduled is None or scheduled == self._done_for:
            return None
        if self._thread is not None and self._thread.is_alive():
            return None
        if self._not_before is not None and now < self._not_before:
            return None
        self._thread = threading.Thread(
            target=self.run_once, args=(scheduled,), name="daily-backup", daemon=True
        )
        self._thread.start()
        return self._thread

    def run_once(self, scheduled: datetime) -> service.Backup | None:
        """Back up unless a backup finished after `scheduled` already (or another worker
        is taking it); the new backup, or None."""
        try:
            with exclusive(self.settings, self.db) as mine:
                if not mine:
                    return None  # asked again at the next tick, once the other is done
                found = service.backups(settings=self.settings)
                if found and found[-1].stopped_at >= scheduled:
                    self._done_for = scheduled
                    return None
                made = service.backup(settings=self.settings, at=self.clock.now(), kind="full")
                self._done_for = scheduled
        except Exception:
            self._not_before = self.clock.now() + RETRY_AFTER
            log.exception("daily backup failed; trying again in %s", RETRY_AFTER)
            return None
        log.info(
            "daily backup %s done in %.1f s (%d bytes)",
            made.label,
            made.seconds or 0.0,
            made.size_bytes,
        )
        return made
