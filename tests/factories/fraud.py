"""Anti-fraud settings for tests that are about something else."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from wangyin.fraud import service as fraud


def rules_out_of_reach(session: Session, *, at: datetime) -> int:
    """The engine runs, its decisions never trigger (`fraud.activate_out_of_reach`): for a
    test of locking or bookkeeping where a few customers pay each other hundreds of times."""
    return fraud.activate_out_of_reach(session, approved_by="test", at=at)
