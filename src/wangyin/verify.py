"""`wangyin verify`: the ledger, transfers and the audit chain, in one read-only transaction."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wangyin.db import Database
from wangyin.ledger import service as ledger
from wangyin.ledger.service import VerifyReport
from wangyin.payments import service as payments
from wangyin.security import audit
from wangyin.security.models import AuditRecord
from wangyin.uow import run_read


def verify_all(db: Database) -> VerifyReport:
    def action(session: Session) -> VerifyReport:
        report = ledger.verify(session)
        report.merge(payments.verify(session))
        chain = audit.verify_chain(session)
        report.checks["audit records"] = session.scalar(select(func.count(AuditRecord.id))) or 0
        report.problems.extend(chain)
        return report

    return run_read(db, action)
