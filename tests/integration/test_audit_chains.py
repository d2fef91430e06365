"""The audit trail runs in independent chains, one per customer group, each verifiable."""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from wangyin.clock import FrozenClock
from wangyin.db import Database
from wangyin.security import audit
from wangyin.security.models import AuditRecord
from wangyin.uow import run_read, run_write


def _append(db: Database, clock: FrozenClock, customer_id: int | None, n: int) -> None:
    def action(s: Session) -> None:
        for i in range(n):
            audit.append(
                s,
                event="login",
                outcome="success",
                actor=f"c{customer_id}",
                at=clock.now(),
                customer_id=customer_id,
                details={"n": i},
            )

    run_write(db, action)


def test_customers_get_their_own_ordered_chains(db: Database, clock: FrozenClock) -> None:
    """4.1.4-d/e: customers 1 and 2 land in chains 1 and 2, events without a customer in
    chain 0; each chain counts 1, 2, 3 … and the whole trail verifies."""
    _append(db, clock, 1, 3)
    _append(db, clock, 2, 2)
    _append(db, clock, None, 1)
    _append(db, clock, 1 + audit.CHAINS, 1)  # shares customer 1's chain
    chains = run_read(
        db,
        lambda s: dict(
            s.execute(
                select(AuditRecord.chain, func.max(AuditRecord.seq)).group_by(AuditRecord.chain)
            ).all()
        ),
    )
    assert chains == {0: 1, 1: 4, 2: 2}
    assert run_read(db, audit.verify_chain) == []


def test_removing_the_last_record_of_one_chain_is_detected(
    db: Database, clock: FrozenClock
) -> None:
    _append(db, clock, 1, 2)
    _append(db, clock, 2, 2)
    run_write(
        db, lambda s: s.execute(text("DELETE FROM audit_records WHERE chain = 2 AND seq = 2"))
    )
    problems = run_read(db, audit.verify_chain)
    assert any("head does not match" in p and "chain 2" in p for p in problems)
