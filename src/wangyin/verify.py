"""`wangyin verify`: the ledger, transfers, the audit chains and the encrypted fields, in one
read-only transaction; then the audit checkpoint outside the database is compared and, when
the audit trail is intact, moved forward to the current heads."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wangyin.clearing import service as clearing
from wangyin.db import Database
from wangyin.ledger import service as ledger
from wangyin.ledger.service import VerifyReport
from wangyin.observability import audit_copy
from wangyin.observability.audit_copy import CopyStore
from wangyin.payments import service as payments
from wangyin.reversals import service as reversals
from wangyin.security import audit, fields
from wangyin.security.models import AuditRecord
from wangyin.uow import run_read

COPY_ENV = "WANGYIN_AUDIT_COPY_URL"
UNANCHORED = (
    "the audit chains are not anchored outside the database: set WANGYIN_AUDIT_CHECKPOINT "
    "to a file on storage the database's users cannot write (docs/operations.md)"
)


def verify_all(
    db: Database, *, checkpoint: Path | None = None, audit_copy_url: str | None = None
) -> VerifyReport:
    """Everything `wangyin verify` checks. `checkpoint` (default: WANGYIN_AUDIT_CHECKPOINT)
    is the signed file of the audit chains' heads: compared first, then rewritten with the
    current heads if the audit trail has no problem (a failing run leaves it as it was).
    `audit_copy_url` (default: WANGYIN_AUDIT_COPY_URL) is the audit copy, compared record
    by record (observability.audit_copy)."""
    anchor = checkpoint or audit.checkpoint_path()
    copy_url = audit_copy_url if audit_copy_url is not None else os.environ.get(COPY_ENV, "")
    copy = CopyStore(copy_url) if copy_url else None
    audit_problems: list[str] = []

    def action(session: Session) -> tuple[VerifyReport, dict[int, tuple[int, str]]]:
        report = ledger.verify(session)
        report.merge(payments.verify(session))
        report.merge(reversals.verify(session))  # a reversed transfer's mirror entry
        report.merge(clearing.verify(session, now=datetime.now(UTC)))
        audit_problems.extend(audit.verify_chain(session))
        if anchor is not None:
            audit_problems.extend(audit.check_checkpoint(session, anchor))
        report.checks["audit records"] = session.scalar(select(func.count(AuditRecord.id))) or 0
        checked, field_problems = fields.verify_fields(session)
        report.checks["encrypted fields"] = checked
        report.problems.extend(field_problems)
        if copy is not None:
            compared = audit_copy.compare(session, copy)
            report.checks.update(compared.checks)
            audit_problems.extend(compared.problems)
        return report, audit.chain_heads(session)

    try:
        report, heads = run_read(db, action)
    finally:
        if copy is not None:
            copy.dispose()
    report.problems.extend(audit_problems)
    if anchor is None:
        if os.environ.get("WANGYIN_ENV", "dev") == "prod":
            report.problems.append(UNANCHORED)
    elif not audit_problems:
        audit.write_checkpoint(anchor, heads)
    return report
