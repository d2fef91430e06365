"""The fraud domain's staff API under /api/admin/v1/fraud (thin: parse, authorize through
the back office's permission table, one action, shape the answer)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from wangyin.backoffice.context import Staff
from wangyin.fraud import actions
from wangyin.fraud import commands as _commands  # noqa: F401 - registers fraud_rules
from wangyin.fraud.schemas import (
    CommandOut,
    DecideIn,
    HoldOut,
    RuleSetOut,
    RulesIn,
    RulesOut,
    StatsOut,
)
from wangyin.fraud.service import HoldView
from wangyin.money import format_minor
from wangyin.web.context import State, client_of

router = APIRouter(prefix="/api/admin/v1/fraud", tags=["fraud"])


def hold_out(view: HoldView) -> HoldOut:
    h, t = view.hold, view.transfer
    return HoldOut(
        transfer_id=h.transfer_id,
        status=h.status,
        customer_id=view.customer_public_id,
        amount=format_minor(t.amount_minor, t.currency),
        currency=t.currency,
        payee_tail=view.payee_tail,
        rules=[r for r in h.hits.split(",") if r],
        points=h.points,
        score=h.score,
        rules_version=h.rules_version,
        case_id=h.case_id,
        created_at=h.created_at,
        decided_by=h.decided_by,
        decided_at=h.decided_at,
        reason=h.reason,
        transfer_status=t.status,
    )


@router.get("/holds", response_model=list[HoldOut])
def holds(staff: Staff, state: State, status: str = "HELD") -> Any:
    """Held transfers, oldest first (`status`: HELD, RELEASED, REFUSED, or "all")."""
    chosen = None if status == "all" else status
    return [hold_out(v) for v in actions.holds(state=state, status=chosen)]


@router.get("/holds/{transfer_id}", response_model=HoldOut)
def hold(transfer_id: str, staff: Staff, state: State) -> Any:
    return hold_out(actions.hold(state=state, transfer_id=transfer_id))


def _decide(
    decide: Any, transfer_id: str, body: DecideIn, request: Request, staff: Any, state: Any
) -> HoldOut:
    decide(
        state=state,
        staff=staff,
        transfer_id=transfer_id,
        reason=body.reason,
        client=client_of(request, "admin"),
    )
    return hold_out(actions.hold(state=state, transfer_id=transfer_id))


@router.post("/holds/{transfer_id}/release", response_model=HoldOut)
def release(transfer_id: str, body: DecideIn, request: Request, staff: Staff, state: State) -> Any:
    """Posts the held transfer once (limits and balance checked again) and texts the
    customer; a hold already decided answers 409 `hold_not_pending`."""
    return _decide(actions.release, transfer_id, body, request, staff, state)


@router.post("/holds/{transfer_id}/refuse", response_model=HoldOut)
def refuse(transfer_id: str, body: DecideIn, request: Request, staff: Staff, state: State) -> Any:
    """Nothing moves; the request ends REFUSED and the customer is texted."""
    return _decide(actions.refuse, transfer_id, body, request, staff, state)


@router.get("/rules", response_model=RulesOut)
def rules(staff: Staff, state: State) -> Any:
    version, params, versions, pending = actions.rules(state=state)
    return RulesOut(
        active_version=version,
        params=params,
        versions=[
            RuleSetOut(version=v.version, active=v.active, created_at=v.created_at)
            for v in versions
        ],
        pending_commands=[c.public_id for c in pending],
    )


@router.post("/rules", response_model=CommandOut, status_code=202)
def propose_rules(body: RulesIn, request: Request, staff: Staff, state: State) -> Any:
    """Proposes a new rule-set version; it becomes active when a supervisor approves the
    command (POST /api/admin/v1/commands/{id}/approve)."""
    command = actions.propose_rules(
        state=state,
        staff=staff,
        client=client_of(request, "admin"),
        params=body.params,
        reason=body.reason,
    )
    return CommandOut(id=command.public_id, kind=command.kind, status=command.status)


@router.get("/stats", response_model=StatsOut)
def stats(staff: Staff, state: State, days: int = 30) -> Any:
    """Rule hits, decisions and the anomaly-score distribution of the last `days` days."""
    days = max(1, min(days, 366))
    found = actions.statistics(state=state, days=days)
    return StatsOut(
        since_days=days,
        total=found.total,
        rule_hits=dict(found.rule_hits),
        decisions=dict(found.decisions),
        scores=dict(found.scores),
    )
