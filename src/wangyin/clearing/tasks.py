"""The worker's clearing job: send what is due, resolve unanswered sends by status query,
follow the network's answers (netted, settled, rejected, returned), and reconcile each
closed day's statements. Many workers may run: transfers are claimed with row locks
(SKIP LOCKED), and every ledger step is keyed, so nothing happens twice."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from functools import partial

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from wangyin.clearing import reconciliation
from wangyin.clearing import service as clearing
from wangyin.clearing.models import (
    NETTED,
    SENDING,
    SENT,
    SETTLED,
    WAITING,
    InterbankTransfer,
    SimulatedItem,
)
from wangyin.clearing.settings import ClearingSettings, clearing_settings
from wangyin.clock import Clock, as_utc, bank_date, bank_day_bounds_utc
from wangyin.db import Database, defer_write, read_together, table_of
from wangyin.gateways import clearing as network
from wangyin.gateways.clearing.hours import hvps_open, next_hvps_opening
from wangyin.gateways.clearing.simulator import CnapsSimulator
from wangyin.observability import metrics
from wangyin.uow import run_read, run_write

log = logging.getLogger(__name__)
BATCH = 50


_IB = table_of(InterbankTransfer)
# Due transfers nobody else holds (SKIP LOCKED), oldest first: the claim's one read.
_DUE = (
    select(
        _IB.c.id,
        _IB.c.public_id,
        _IB.c.system,
        _IB.c.bank_code,
        _IB.c.payee_account,
        _IB.c.payee_name,
        _IB.c.amount_minor,
        _IB.c.attempts,
    )
    .where(_IB.c.status == WAITING, _IB.c.send_after <= bindparam("now"))
    .order_by(_IB.c.send_after, _IB.c.id)
    .limit(BATCH)
    .with_for_update(skip_locked=True)
)
_UPDATE = update(_IB).where(_IB.c.id == bindparam("transfer_row"))


def _claim_due(
    session: Session, *, now: datetime, settings: ClearingSettings
) -> list[network.Item]:
    """Due transfers nobody else holds, marked SENDING before the network sees them: a
    crash after this commit leaves them SENDING, resolved by status query, not resent.
    One read, and the marks go with the COMMIT (one round trip each on PostgreSQL)."""
    due = read_together(session, [(_DUE, {"now": now})])[0]
    items = []
    for t in due:
        if t.system == "HVPS" and not hvps_open(now, settings):
            opening = next_hvps_opening(now, settings)
            defer_write(
                session,
                _UPDATE,
                {"transfer_row": t.id, "send_after": opening, "reason": "hvps_closed"},
            )
            continue
        defer_write(
            session,
            _UPDATE,
            {"transfer_row": t.id, "status": SENDING, "sent_at": now, "attempts": t.attempts + 1},
        )
        items.append(
            network.Item(
                msg_id=t.public_id,
                system=t.system,
                bank_code=t.bank_code,
                account=t.payee_account,
                payee_name=t.payee_name,
                amount_minor=t.amount_minor,
            )
        )
    return items


def _apply(session: Session, *, msg_id: str, answer: network.Answer | None, now: datetime) -> None:
    if answer is not None:
        clearing.record_answer(session, msg_id=msg_id, answer=answer, at=now)
        return
    t = session.scalars(
        select(InterbankTransfer)
        .where(InterbankTransfer.public_id == msg_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if t is not None and t.status == SENDING:
        # The status query says the network never had it: sending it again is safe.
        t.status, t.reason = WAITING, "resend_after_status_query"


def _day_has_items(session: Session, *, system: str, day: date) -> bool:
    """Whether either book has an item of that system and day (the simulator's book stands
    for the network's own statement service, which a real network runs every day)."""
    start, end = bank_day_bounds_utc(day)
    ours = select(InterbankTransfer.id).where(
        InterbankTransfer.system == system,
        InterbankTransfer.sent_at >= start,
        InterbankTransfer.sent_at < end,
    )
    theirs = select(SimulatedItem.id).where(
        SimulatedItem.system == system,
        SimulatedItem.received_at >= start,
        SimulatedItem.received_at < end,
    )
    return any(session.execute(q.limit(1)).first() for q in (ours, theirs))


class ClearingJob:
    """One tick of the clearing work; the worker calls `tick()` in its loop."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        gateway: network.ClearingGateway | None = None,
        settings: ClearingSettings | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings or clearing_settings()
        self.gateway = gateway or CnapsSimulator(db, clock, self.settings)
        self._reconciled: set[str] = set()

    def tick(self) -> None:
        now = self.clock.now()
        self.gateway.tick(now)
        self.send_due(now)
        self.follow(now)
        self.reconcile_yesterday(now)

    def send_due(self, now: datetime) -> int:
        items = run_write(self.db, lambda s: _claim_due(s, now=now, settings=self.settings))
        for item in items:
            try:
                with metrics.clearing_call("send"):
                    answer: network.Answer | None = self.gateway.send(item)
            except (network.ClearingTimeout, network.ClearingUnavailable) as exc:
                # Left SENDING: the status query decides (follow), never a blind resend.
                log.warning(
                    "clearing send unanswered (%s): resolved by status query", type(exc).__name__
                )
                continue
            run_write(self.db, partial(_apply, msg_id=item.msg_id, answer=answer, now=now))
        return len(items)

    def follow(self, now: datetime) -> None:
        """Ask the network about every transfer it may still change: unanswered sends,
        items not yet settled, and settled ones within the return window."""
        window = as_utc(now) - timedelta(days=self.settings.return_days + 3)

        def open_items(s: Session) -> list[tuple[str, str]]:
            rows = s.execute(
                select(InterbankTransfer.public_id, InterbankTransfer.status).where(
                    (InterbankTransfer.status.in_((SENDING, SENT, NETTED)))
                    | (
                        (InterbankTransfer.status == SETTLED)
                        & (InterbankTransfer.settled_at >= window)
                    )
                )
            )
            return [(r.public_id, r.status) for r in rows]

        for msg_id, _status in run_write(self.db, open_items):
            try:
                with metrics.clearing_call("status"):
                    answer = self.gateway.status(msg_id)
            except (network.ClearingTimeout, network.ClearingUnavailable):
                return  # the network is away: next tick
            run_write(self.db, partial(_apply, msg_id=msg_id, answer=answer, now=now))

    def reconcile_yesterday(self, now: datetime) -> None:
        day = bank_date(now) - timedelta(days=1)
        for system in network.SYSTEMS:
            marker = f"{day}:{system}"
            if marker in self._reconciled:
                continue
            if not run_read(self.db, partial(_day_has_items, system=system, day=day)):
                # Nothing sent or received that day: nothing to match, no file to write.
                self._reconciled.add(marker)
                continue
            with metrics.clearing_call("statement"):
                statement = self.gateway.statement(system, day)
            if statement is None:
                continue
            run = run_write(
                self.db,
                partial(
                    reconciliation.reconcile, system=system, day=day, statement=statement, at=now
                ),
            )
            text = run_read(self.db, partial(reconciliation.report_text, run_id=run.id))
            # The report staff read, beside the statement it matched.
            statement.with_name(f"reconciliation-{system}-{day.isoformat()}.txt").write_text(
                text, encoding="utf-8"
            )
            if run.mismatched:
                log.warning("reconciliation %s %s: %d mismatches", system, day, run.mismatched)
            self._reconciled.add(marker)
