"""Anti-fraud settings for tests that are about something else."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from wangyin.fraud import service as fraud

OUT_OF_REACH = 10**12


def rules_out_of_reach(session: Session, *, at: datetime) -> int:
    """A rule set whose decisions never trigger: the engine still runs every rule and keeps
    its counters, but a test of locking or bookkeeping with a few customers paying each
    other hundreds of times (velocity and mule activity by design) is not stepped up."""
    return fraud.activate(
        session,
        changes={
            "decision": {"step_up": OUT_OF_REACH, "hold": OUT_OF_REACH, "block": OUT_OF_REACH},
            "mule": {"payers": OUT_OF_REACH},
            "structuring": {"count": OUT_OF_REACH},
            "credential_stuffing": {"attempts": OUT_OF_REACH},
        },
        approved_by="test",
        at=at,
    )
