"""Risk control's JSON APIs (thin: parse, one action, shape the answer).

`router`: the risk officers' and supervisors' API under /api/admin/v1/risk, authorized
by the back office's permission table. `customer_router`: customers' complaints under
/api/v1 (their own only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from wangyin.backoffice.context import Staff
from wangyin.backoffice.models import Command
from wangyin.risk import actions
from wangyin.risk import service as risk
from wangyin.risk.models import RiskCase
from wangyin.risk.schemas import (
    AssessmentOut,
    BlacklistIn,
    BlacklistOut,
    CaseDetailOut,
    CaseIn,
    CaseOut,
    CloseIn,
    CommandOut,
    ComplaintIn,
    ComplaintOut,
    ContactIn,
    ExpireIn,
    FreezeIn,
    MessageOut,
    NoteIn,
    ReviewIn,
    ReviewOut,
    TimelineOut,
)
from wangyin.uow import run_read
from wangyin.web.context import ApiUser, State, client_of

# The whole prefix here: the route path the permissions are keyed by.
router = APIRouter(prefix="/api/admin/v1/risk", tags=["risk"])
customer_router = APIRouter(tags=["complaints"])


def case_out(row: actions.CaseRow) -> CaseOut:
    return CaseOut.model_validate(row.case).model_copy(
        update={
            "age_hours": row.age_hours,
            "sla_hours": row.sla_hours,
            "sla_breached": row.sla_breached,
        }
    )


def fraud_hold_url(case: RiskCase) -> str | None:
    """The fraud domain's page of the hold a `fraud_hold` case is about."""
    if case.kind == "fraud_hold" and case.reference:
        return f"/admin/fraud/holds/{case.reference}"
    return None


def _command(command: Command) -> CommandOut:
    return CommandOut.model_validate(command)


@router.get("/blacklist", response_model=list[BlacklistOut])
def blacklist(staff: Staff, state: State) -> Any:
    """Every entry, newest first, masked; `live` false once expired (it no longer matches)."""
    return [
        BlacklistOut.model_validate(v.entry).model_copy(update={"live": v.live})
        for v in actions.blacklist(state=state)
    ]


@router.post("/blacklist", response_model=CommandOut, status_code=202)
def propose_entry(body: BlacklistIn, request: Request, staff: Staff, state: State) -> Any:
    """Proposes the listing; it takes effect when another officer or a supervisor
    approves the command (POST /api/admin/v1/commands/{id}/approve)."""
    return _command(
        actions.propose_listing(
            state=state,
            staff=staff,
            client=client_of(request, "admin"),
            kind=body.kind,
            value=body.value,
            reason=body.reason,
            expires_at=body.expires_at,
        )
    )


@router.post("/blacklist/{entry_id}/expire", response_model=CommandOut, status_code=202)
def propose_expiry(
    entry_id: int, body: ExpireIn, request: Request, staff: Staff, state: State
) -> Any:
    """Proposes ending an entry now (maker-checker, as listing)."""
    return _command(
        actions.propose_expiry(
            state=state,
            staff=staff,
            client=client_of(request, "admin"),
            entry_id=entry_id,
            reason=body.reason,
        )
    )


@router.get("/cases", response_model=list[CaseOut])
def cases(staff: Staff, state: State) -> Any:
    """Open and assigned cases, most urgent first, then oldest, with their SLA."""
    return [case_out(row) for row in actions.case_queue(state=state)]


@router.get("/cases/timeline", response_model=list[TimelineOut])
def case_timeline(case_id: int, staff: Staff, state: State) -> Any:
    """The reconstructed timeline of the case's customer, from the audit chain."""
    return run_read(
        state.db,
        lambda s: [TimelineOut.model_validate(r) for r in risk.timeline(s, case_id=case_id)],
    )


@router.get("/cases/{case_id}", response_model=CaseDetailOut)
def case(case_id: int, staff: Staff, state: State) -> Any:
    found = actions.case_detail(state=state, case_id=case_id)
    c = found.row.case
    return CaseDetailOut(
        case=case_out(found.row),
        customer_id=found.customer_public_id,
        customer_name=found.customer_name,
        subject=c.subject,
        text=c.body,
        transfer_id=c.transfer_id,
        reference=c.reference,
        fraud_hold_url=fraud_hold_url(c),
        messages=[MessageOut.model_validate(m) for m in found.messages],
        commands=[_command(m) for m in found.commands],
    )


@router.post("/cases/assign", response_model=CaseOut)
def assign(body: CaseIn, staff: Staff, state: State) -> Any:
    return case_out(actions.take_case(state=state, staff=staff, case_id=body.case_id))


@router.post("/cases/note", status_code=204)
def note(body: NoteIn, staff: Staff, state: State) -> None:
    actions.note_case(state=state, staff=staff, case_id=body.case_id, note=body.note)


@router.post("/cases/contact", response_model=MessageOut, status_code=201)
def contact(body: ContactIn, request: Request, staff: Staff, state: State) -> Any:
    """The assignee writes to the customer (their complaint page, and an SMS)."""
    return MessageOut.model_validate(
        actions.contact_customer(
            state=state,
            staff=staff,
            client=client_of(request, "admin"),
            case_id=body.case_id,
            text=body.text,
        )
    )


@router.post("/cases/freeze", response_model=CommandOut, status_code=201)
def freeze(body: FreezeIn, request: Request, staff: Staff, state: State) -> Any:
    """The assignee freezes the customer's transfers or everything (the back office's
    `freeze` command)."""
    return _command(
        actions.freeze_customer(
            state=state,
            staff=staff,
            client=client_of(request, "admin"),
            case_id=body.case_id,
            scope=body.scope,
            reason=body.reason,
        )
    )


@router.post("/cases/close", response_model=CaseOut)
def close(body: CloseIn, staff: Staff, state: State) -> Any:
    return case_out(
        actions.close_case(
            state=state,
            staff=staff,
            case_id=body.case_id,
            outcome=body.outcome,
            comment=body.comment,
        )
    )


def review_out(view: actions.ReviewView) -> ReviewOut:
    declared = view.declaration
    return ReviewOut(
        assessment=AssessmentOut.model_validate(view.assessment),
        customer_id=view.customer_public_id,
        customer_name=view.customer_name,
        occupation=declared.occupation if declared else None,
        product_use=declared.product_use if declared else None,
        proposal=_command(view.proposal) if view.proposal else None,
    )


@router.get("/reviews", response_model=list[ReviewOut])
def reviews(staff: Staff, state: State) -> Any:
    """High-risk sign-ups waiting for a decision, oldest first."""
    return [review_out(v) for v in actions.reviews(state=state)]


@router.get("/reviews/{assessment_id}", response_model=ReviewOut)
def review(assessment_id: int, staff: Staff, state: State) -> Any:
    return review_out(actions.review(state=state, assessment_id=assessment_id))


def _propose_review(
    body: ReviewIn, request: Request, staff: Staff, state: State, *, approve: bool
) -> Any:
    return _command(
        actions.propose_review(
            state=state,
            staff=staff,
            client=client_of(request, "admin"),
            assessment_id=body.assessment_id,
            approve=approve,
            reason=body.reason,
        )
    )


@router.post("/reviews/approve", response_model=CommandOut, status_code=202)
def approve_review(body: ReviewIn, request: Request, staff: Staff, state: State) -> Any:
    """A risk officer proposes opening online banking; a supervisor approves the command."""
    return _propose_review(body, request, staff, state, approve=True)


@router.post("/reviews/reject", response_model=CommandOut, status_code=202)
def reject_review(body: ReviewIn, request: Request, staff: Staff, state: State) -> Any:
    """A risk officer proposes closing it; a supervisor approves the command."""
    return _propose_review(body, request, staff, state, approve=False)


# --- customers ---------------------------------------------------------------------------

STATUS_OF = {"open": "received", "assigned": "in_progress", "closed": "closed"}


def complaint_out(case: RiskCase, messages: list[Any] | None = None) -> ComplaintOut:
    return ComplaintOut(
        complaint_id=case.public_id or "",
        subject=case.subject or "",
        status=STATUS_OF.get(case.status, "received"),  # type: ignore[arg-type]
        outcome=case.outcome if case.status == "closed" else None,
        transfer_id=case.transfer_id,
        filed_at=case.opened_at,
        closed_at=case.closed_at,
        messages=[MessageOut.model_validate(m) for m in messages or []],
    )


@customer_router.get("/complaints", response_model=list[ComplaintOut])
def my_complaints(user: ApiUser, state: State) -> Any:
    """Your complaints, newest first, with their status and outcome."""
    return [complaint_out(c) for c in actions.my_complaints(state=state, user=user)]


@customer_router.post("/complaints", response_model=ComplaintOut, status_code=201)
def file_complaint(body: ComplaintIn, request: Request, user: ApiUser, state: State) -> Any:
    """File a complaint, optionally about one of your transfers; the bank's risk and
    service staff answer it (its messages, and an SMS when they write)."""
    case = actions.file_complaint(
        state=state,
        user=user,
        client=client_of(request),
        subject=body.subject,
        text=body.text,
        transfer_id=body.transfer_id,
    )
    return complaint_out(case)


@customer_router.get("/complaints/{complaint_id}", response_model=ComplaintOut)
def my_complaint(complaint_id: str, user: ApiUser, state: State) -> Any:
    found = actions.my_complaint(state=state, user=user, complaint_id=complaint_id)
    return complaint_out(found.case, found.messages)


@customer_router.get("/bank-messages", response_model=list[MessageOut])
def bank_messages(user: ApiUser, state: State) -> Any:
    """What the bank wrote to you about your cases, newest first."""
    return [MessageOut.model_validate(m) for m in actions.bank_messages(state=state, user=user)]
