"""The worker's job for scheduled transfers: create the due runs, then make them, one run
per transaction. Many workers may run this at once: instructions and runs are claimed
with row locks (SKIP LOCKED), and a run's outcome commits with its transfer."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial

from sqlalchemy.orm import Session

from wangyin.config import Settings
from wangyin.db import Database
from wangyin.schedules import service as schedules
from wangyin.uow import run_write

log = logging.getLogger(__name__)


def _one_run(session: Session, *, at: datetime, settings: Settings) -> str | None:
    run = schedules.claim_run(session, at=at)
    if run is None:
        return None
    return schedules.execute_run(session, run, at=at, settings=settings)


def run_due(db: Database, settings: Settings, *, at: datetime, limit: int = 200) -> int:
    """Make up to `limit` due runs; returns how many were handled (any outcome)."""
    while run_write(db, partial(schedules.create_due_runs, at=at)):
        pass
    handled = 0
    while handled < limit:
        outcome = run_write(db, partial(_one_run, at=at, settings=settings))
        if outcome is None:
            break
        handled += 1
        log.info("scheduled run %s", outcome)
    return handled
