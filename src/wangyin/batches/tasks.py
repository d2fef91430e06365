"""The worker's job for batches: execute ready lines of confirmed batches in bounded
chunks, then mark the batches with nothing left as done. A chunk is one transaction: its
lines are claimed SKIP LOCKED (many workers may run), each line is one transfer (made, or
refused with its reason, decided before its first write), and every line's result commits
with its transfer, so a crash mid-batch leaves each line done exactly once or still ready.
One commit per chunk rather than per line: the commit (its fsync) was most of a line's
cost."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlalchemy.orm import Session

from wangyin.batches import service as batches
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.uow import run_write

CHUNK = 50


def _chunk(session: Session, *, at: datetime, settings: Settings, size: int) -> int:
    lines = batches.claim_lines(session, limit=size)
    for line in lines:
        batches.execute_line(session, line, at=at, settings=settings)
    return len(lines)


def run_batches(
    db: Database, settings: Settings, *, at: datetime, limit: int = 500, chunk: int = CHUNK
) -> int:
    """Execute up to `limit` lines; returns how many were executed (made or refused)."""
    done = 0
    while done < limit:
        size = min(chunk, limit - done)
        executed = run_write(db, partial(_chunk, at=at, settings=settings, size=size))
        done += executed
        if executed < size:
            break
    run_write(db, partial(batches.finish_batches, at=at))
    return done
