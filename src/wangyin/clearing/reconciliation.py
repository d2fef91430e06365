"""Daily reconciliation (对账): the network's statement of a system's day, matched item by
item against our transfers sent that day. Every difference is a mismatch staff read on
/admin/reconciliation and `wangyin verify` reports until it is resolved."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from wangyin.clearing.models import (
    NETTED,
    REJECTED,
    RETURNED,
    SENDING,
    SENT,
    SETTLED,
    InterbankTransfer,
    ReconciliationMismatch,
    ReconciliationRun,
)
from wangyin.clock import bank_day_bounds_utc
from wangyin.errors import DomainError
from wangyin.gateways import clearing as network
from wangyin.security import audit

# Outcomes compared: the network counts PR03 and PR04 as success (payment-systems.md).
_THEIRS = {
    network.ACCEPTED: "in_process",
    network.NETTED: "success",
    network.SETTLED: "success",
    network.REJECTED: "rejected",
    network.RETURNED: "returned",
}
_OURS = {
    SENDING: "in_process",
    SENT: "in_process",
    NETTED: "success",
    SETTLED: "success",
    REJECTED: "rejected",
    RETURNED: "returned",
}


def reconcile(
    session: Session, *, system: str, day: date, statement: Path, at: datetime
) -> ReconciliationRun:
    """Match one statement; a day and system is reconciled once."""
    existing = session.scalars(
        select(ReconciliationRun).where(
            ReconciliationRun.day == day.isoformat(), ReconciliationRun.system == system
        )
    ).first()
    if existing is not None:
        return existing
    theirs = {line.msg_id: line for line in network.read_statement(statement)}
    start, end = bank_day_bounds_utc(day)
    ours = {
        t.public_id: t
        for t in session.scalars(
            select(InterbankTransfer).where(
                InterbankTransfer.system == system,
                InterbankTransfer.sent_at >= start,
                InterbankTransfer.sent_at < end,
            )
        )
    }
    run = ReconciliationRun(
        day=day.isoformat(), system=system, statement=str(statement)[:300], run_at=at
    )
    session.add(run)
    session.flush()
    mismatches: list[ReconciliationMismatch] = []

    def differ(kind: str, reference: str, mine: str, other: str) -> None:
        mismatches.append(
            ReconciliationMismatch(
                run_id=run.id, kind=kind, reference=reference, ours=mine[:60], theirs=other[:60]
            )
        )

    for reference, line in theirs.items():
        transfer = ours.get(reference)
        if transfer is None:
            differ("missing_ours", reference, "", f"{line.amount_minor} {line.status}")
            continue
        if transfer.amount_minor != line.amount_minor:
            differ("amount", reference, str(transfer.amount_minor), str(line.amount_minor))
        mine = _OURS.get(transfer.status, transfer.status)
        other = _THEIRS.get(line.status, line.status)
        if mine != other:
            differ("status", reference, f"{transfer.status} ({mine})", f"{line.status} ({other})")
    for reference, transfer in ours.items():
        if reference not in theirs:
            differ("missing_theirs", reference, f"{transfer.amount_minor} {transfer.status}", "")
    session.add_all(mismatches)
    run.matched = len(theirs.keys() & ours.keys()) - len(
        {m.reference for m in mismatches if m.kind in ("amount", "status")}
    )
    run.mismatched = len(mismatches)
    session.flush()
    return run


def report(
    session: Session, *, limit: int = 30
) -> list[tuple[ReconciliationRun, list[ReconciliationMismatch]]]:
    """The latest runs with their mismatches, for staff."""
    runs = list(
        session.scalars(
            select(ReconciliationRun)
            .order_by(ReconciliationRun.day.desc(), ReconciliationRun.system)
            .limit(limit)
        )
    )
    found: dict[int, list[ReconciliationMismatch]] = {run.id: [] for run in runs}
    if runs:
        for mismatch in session.scalars(
            select(ReconciliationMismatch)
            .where(ReconciliationMismatch.run_id.in_(list(found)))
            .order_by(ReconciliationMismatch.id)
        ):
            found[mismatch.run_id].append(mismatch)
    return [(run, found[run.id]) for run in runs]


KIND_TEXT = {
    "missing_ours": "on the network's statement, not in our records",
    "missing_theirs": "in our records, not on the network's statement",
    "amount": "the amounts differ",
    "status": "the outcomes differ",
}


def report_text(session: Session, *, run_id: int) -> str:
    """One run as staff read it (the file beside the statement, `wangyin verify`)."""
    run = session.get_one(ReconciliationRun, run_id)
    lines = [
        f"对账 reconciliation {run.system} {run.day}: {run.matched} matched, "
        f"{run.mismatched} mismatched (statement {run.statement})"
    ]
    for m in session.scalars(
        select(ReconciliationMismatch)
        .where(ReconciliationMismatch.run_id == run_id)
        .order_by(ReconciliationMismatch.id)
    ):
        lines.append(
            f"  {m.kind}: {m.reference} ({KIND_TEXT[m.kind]}); ours: {m.ours or '-'}; "
            f"theirs: {m.theirs or '-'}"
        )
    return "\n".join(lines) + "\n"


def run_with_mismatches(
    session: Session, *, run_id: int
) -> tuple[ReconciliationRun, list[ReconciliationMismatch]]:
    run = session.get(ReconciliationRun, run_id)
    if run is None:
        raise DomainError("reconciliation_not_found")
    mismatches = list(
        session.scalars(
            select(ReconciliationMismatch)
            .where(ReconciliationMismatch.run_id == run_id)
            .order_by(ReconciliationMismatch.id)
        )
    )
    return run, mismatches


def resolve(
    session: Session,
    *,
    mismatch_id: int,
    staff_id: str,
    reason: str,
    client: audit.Client,
    at: datetime,
) -> ReconciliationMismatch:
    """A difference explained and closed by a supervisor, with how (the audit chain keeps
    who, when and why). Decided under the mismatch's row lock: two supervisors resolving
    one difference at once, one wins and the other is told it is already resolved."""
    reason = " ".join(reason.split())
    if not 4 <= len(reason) <= 300:
        raise DomainError("resolution_reason_required")
    mismatch = session.scalars(
        select(ReconciliationMismatch)
        .where(ReconciliationMismatch.id == mismatch_id)
        .with_for_update()
    ).first()
    if mismatch is None:
        raise DomainError("reconciliation_not_found")
    if mismatch.resolved:
        raise DomainError("mismatch_resolved")
    mismatch.resolved = True
    audit.append(
        session,
        event="reconciliation_resolved",
        outcome="ok",
        actor=staff_id,
        at=at,
        client=client,
        details={
            "mismatch": mismatch.id,
            "run": mismatch.run_id,
            "kind": mismatch.kind,
            "reference": mismatch.reference,
            "reason": reason,
        },
    )
    session.flush()
    return mismatch
