"""The risk officers' API under /api/admin/v1/risk (thin: parse, authorize through the
back office's permission table, one service call)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from wangyin.backoffice.context import Staff
from wangyin.risk import aml
from wangyin.risk import service as risk
from wangyin.risk.models import RiskCase
from wangyin.risk.schemas import (
    AssessmentOut,
    BlacklistIn,
    BlacklistOut,
    CaseIn,
    CaseOut,
    CloseIn,
    NoteIn,
    ReviewIn,
    TimelineOut,
)
from wangyin.uow import run_read, run_write
from wangyin.web.context import State

# The whole prefix here: the route path the permissions are keyed by.
router = APIRouter(prefix="/api/admin/v1/risk", tags=["risk"])


def _out(case: RiskCase, state: State) -> CaseOut:
    out = CaseOut.model_validate(case)
    age = risk.age_hours(case, at=state.clock.now())
    return out.model_copy(update={"age_hours": age, "sla_breached": risk.sla_breached(case, age)})


@router.post("/blacklist", response_model=BlacklistOut, status_code=201)
def add_entry(body: BlacklistIn, staff: Staff, state: State) -> Any:
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: BlacklistOut.model_validate(
            risk.add_entry(
                s,
                kind=body.kind,
                value=body.value,
                reason=body.reason,
                staff_id=staff.public_id,
                at=now,
                expires_at=body.expires_at,
            )
        ),
    )


@router.get("/cases", response_model=list[CaseOut])
def cases(staff: Staff, state: State) -> Any:
    return run_read(state.db, lambda s: [_out(c, state) for c in risk.list_cases(s)])


@router.get("/cases/timeline", response_model=list[TimelineOut])
def case_timeline(case_id: int, staff: Staff, state: State) -> Any:
    """The reconstructed timeline of the case's customer, from the audit chain."""
    return run_read(
        state.db,
        lambda s: [TimelineOut.model_validate(r) for r in risk.timeline(s, case_id=case_id)],
    )


@router.post("/cases/assign", response_model=CaseOut)
def assign(body: CaseIn, staff: Staff, state: State) -> Any:
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: _out(
            risk.assign_case(s, case_id=body.case_id, staff_id=staff.public_id, at=now), state
        ),
    )


@router.post("/cases/note", status_code=204)
def note(body: NoteIn, staff: Staff, state: State) -> None:
    now = state.clock.now()
    run_write(
        state.db,
        lambda s: risk.add_note(
            s, case_id=body.case_id, staff_id=staff.public_id, note=body.note, at=now
        ),
    )


@router.post("/cases/close", response_model=CaseOut)
def close(body: CloseIn, staff: Staff, state: State) -> Any:
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: _out(
            risk.close_case(
                s, case_id=body.case_id, staff_id=staff.public_id, outcome=body.outcome, at=now
            ),
            state,
        ),
    )


@router.get("/reviews", response_model=list[AssessmentOut])
def reviews(staff: Staff, state: State) -> Any:
    """High-risk sign-ups waiting for a supervisor, oldest first."""
    return run_read(state.db, lambda s: [AssessmentOut.model_validate(a) for a in aml.pending(s)])


def _decide(body: ReviewIn, staff: Staff, state: State, *, approve: bool) -> Any:
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: AssessmentOut.model_validate(
            aml.decide(
                s,
                assessment_id=body.assessment_id,
                approve=approve,
                reason=body.reason,
                staff_id=staff.public_id,
                at=now,
            )
        ),
    )


@router.post("/reviews/approve", response_model=AssessmentOut)
def approve_review(body: ReviewIn, staff: Staff, state: State) -> Any:
    return _decide(body, staff, state, approve=True)


@router.post("/reviews/reject", response_model=AssessmentOut)
def reject_review(body: ReviewIn, staff: Staff, state: State) -> Any:
    return _decide(body, staff, state, approve=False)
