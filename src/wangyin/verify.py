"""`wangyin verify`: every domain's consistency checks in one read-only transaction."""

from __future__ import annotations

from sqlalchemy.orm import Session

from wangyin.db import Database
from wangyin.ledger import service as ledger
from wangyin.ledger.service import VerifyReport
from wangyin.payments import service as payments
from wangyin.uow import run_read


def verify_all(db: Database) -> VerifyReport:
    def action(session: Session) -> VerifyReport:
        report = ledger.verify(session)
        report.merge(payments.verify(session))
        return report

    return run_read(db, action)
