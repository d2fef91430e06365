"""Risk control's pages (thin: parse, one action, render).

`router`, under /admin/risk, authorized by the back office's permission table: the
blacklist (changes proposed for a checker), the AML review queue and its detail, the case
queue and a case's page (take, note, contact the customer, freeze, close with an outcome).
`customer_router`: the customer's complaints (/service/complaints), their own only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from wangyin.backoffice.api import commands_out
from wangyin.backoffice.context import Staff
from wangyin.backoffice.pages import _page, refused
from wangyin.backoffice.service import CurrentStaff
from wangyin.clock import BANK_TZ
from wangyin.errors import DomainError
from wangyin.reversals import actions as reversal_actions
from wangyin.risk import actions, aml, commands
from wangyin.risk import service as risk
from wangyin.risk.api import STATUS_OF, fraud_hold_url
from wangyin.uow import run_read
from wangyin.web.context import PageUser, State, check_form_csrf, client_of
from wangyin.web.forms import error_text, form_data
from wangyin.web.render import render

router = APIRouter(prefix="/admin/risk")
customer_router = APIRouter()

BLACKLIST_KINDS = (commands.BLACKLIST_ADD, commands.BLACKLIST_EXPIRE)


def _int(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise DomainError("case_not_found") from None


async def _do(request: Request, action: Callable[[dict[str, Any]], Any], back: str) -> Response:
    """Run a staff form's action; a refusal is shown in the back office's layout."""
    form = await form_data(request)
    try:
        await run_in_threadpool(action, form)
    except DomainError as exc:
        return refused(request, exc)
    return RedirectResponse(back, status_code=303)


# --- the blacklist -----------------------------------------------------------------------


@router.get("/blacklist")
def blacklist(staff: Staff, request: Request, state: State) -> Response:
    pending = actions.pending_commands(state=state, kinds=BLACKLIST_KINDS)
    return _page(
        request,
        "risk/blacklist.html",
        staff,
        entries=actions.blacklist(state=state),
        pending=run_read(state.db, lambda s: commands_out(s, pending)),
        blacklist_kinds=risk.KINDS,
        decide=True,
    )


def _expiry(value: str) -> datetime | None:
    """A date typed on the form: the entry ends at the start of that day (bank time)."""
    if not value.strip():
        return None
    try:
        day = datetime.strptime(value.strip(), "%Y-%m-%d").date()
    except ValueError:
        raise DomainError("validation_error") from None
    return datetime.combine(day, time(0), tzinfo=BANK_TZ)


@router.post("/blacklist")
async def propose_entry(staff: Staff, request: Request, state: State) -> Response:
    def action(form: dict[str, Any]) -> Any:
        return actions.propose_listing(
            state=state,
            staff=staff,
            client=client_of(request, "admin"),
            kind=str(form.get("kind", "")),
            value=str(form.get("value", "")),
            reason=str(form.get("reason", "")),
            expires_at=_expiry(str(form.get("expires", ""))),
        )

    return await _do(request, action, "/admin/risk/blacklist?proposed=1")


@router.post("/blacklist/{entry_id}/expire")
async def propose_expiry(entry_id: int, staff: Staff, request: Request, state: State) -> Response:
    def action(form: dict[str, Any]) -> Any:
        return actions.propose_expiry(
            state=state,
            staff=staff,
            client=client_of(request, "admin"),
            entry_id=entry_id,
            reason=str(form.get("reason", "")),
        )

    return await _do(request, action, "/admin/risk/blacklist?proposed=1")


# --- the AML review queue ----------------------------------------------------------------


@router.get("/reviews")
def reviews(staff: Staff, request: Request, state: State) -> Response:
    return _page(request, "risk/reviews.html", staff, reviews=actions.reviews(state=state))


@router.get("/reviews/{assessment_id}")
def review(assessment_id: int, staff: Staff, request: Request, state: State) -> Response:
    view = actions.review(state=state, assessment_id=assessment_id)
    waiting = [view.proposal] if view.proposal else []
    proposal = run_read(state.db, lambda s: commands_out(s, waiting))
    return _page(
        request,
        "risk/review.html",
        staff,
        review=view,
        proposal=proposal,
        decide=True,
        occupations=aml.OCCUPATIONS,
    )


@router.post("/reviews/{assessment_id}/propose")
async def propose_review(
    assessment_id: int, staff: Staff, request: Request, state: State
) -> Response:
    def action(form: dict[str, Any]) -> Any:
        return actions.propose_review(
            state=state,
            staff=staff,
            client=client_of(request, "admin"),
            assessment_id=assessment_id,
            approve=form.get("decision") == "approve",
            reason=str(form.get("reason", "")),
        )

    return await _do(request, action, f"/admin/risk/reviews/{assessment_id}")


# --- cases -------------------------------------------------------------------------------


@router.get("/cases")
def cases(staff: Staff, request: Request, state: State) -> Response:
    return _page(request, "risk/cases.html", staff, cases=actions.case_queue(state=state))


@router.get("/cases/{case_id}")
def case(case_id: int, staff: Staff, request: Request, state: State) -> Response:
    found = actions.case_detail(state=state, case_id=case_id)
    return _page(
        request,
        "risk/case.html",
        staff,
        found=found,
        c=found.row.case,
        hold_url=fraud_hold_url(found.row.case),
        outcomes=risk.OUTCOMES,
        commands=run_read(state.db, lambda s: commands_out(s, found.commands)),
        # The customer's transfers for reversals/_case.html (wangyin.reversals).
        reversal_choices=reversal_actions.case_transfers(state=state, case_id=case_id),
    )


def _case_action(what: str, staff: CurrentStaff, request: Request, state: State) -> Any:
    def action(form: dict[str, Any]) -> Any:
        case_id = _int(form.get("case_id", ""))
        client = client_of(request, "admin")
        if what == "assign":
            return actions.take_case(state=state, staff=staff, case_id=case_id)
        if what == "note":
            return actions.note_case(
                state=state, staff=staff, case_id=case_id, note=str(form.get("note", ""))
            )
        if what == "contact":
            return actions.contact_customer(
                state=state,
                staff=staff,
                client=client,
                case_id=case_id,
                text=str(form.get("text", "")),
            )
        if what == "freeze":
            return actions.freeze_customer(
                state=state,
                staff=staff,
                client=client,
                case_id=case_id,
                scope=str(form.get("scope", "")),
                reason=str(form.get("reason", "")),
            )
        return actions.close_case(
            state=state,
            staff=staff,
            case_id=case_id,
            outcome=str(form.get("outcome", "")),
            comment=str(form.get("comment", "")),
        )

    return action


async def _act(what: str, staff: CurrentStaff, request: Request, state: State) -> Response:
    form = await form_data(request)
    back = "/admin/risk/cases"
    if form.get("back") == "case":
        back = f"/admin/risk/cases/{_int(form.get('case_id', '0'))}"
    return await _do(request, _case_action(what, staff, request, state), back)


@router.post("/cases/assign")
async def assign(staff: Staff, request: Request, state: State) -> Response:
    return await _act("assign", staff, request, state)


@router.post("/cases/note")
async def note(staff: Staff, request: Request, state: State) -> Response:
    return await _act("note", staff, request, state)


@router.post("/cases/contact")
async def contact(staff: Staff, request: Request, state: State) -> Response:
    return await _act("contact", staff, request, state)


@router.post("/cases/freeze")
async def freeze(staff: Staff, request: Request, state: State) -> Response:
    return await _act("freeze", staff, request, state)


@router.post("/cases/close")
async def close(staff: Staff, request: Request, state: State) -> Response:
    return await _act("close", staff, request, state)


# --- customers: complaints -----------------------------------------------------------------


def _complaints_page(
    request: Request,
    state: State,
    user: PageUser,
    *,
    form: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    return render(
        request,
        "risk/complaints.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "complaints": actions.my_complaints(state=state, user=user),
            "bank_messages": actions.bank_messages(state=state, user=user),
            "status_of": STATUS_OF,
            "form": form or {},
            "error": error,
        },
        status=status,
    )


@customer_router.get("/service/complaints")
def complaints(request: Request, user: PageUser, state: State) -> Response:
    form = {"transfer_id": request.query_params.get("transfer", "")[:36]}
    return _complaints_page(request, state, user, form=form)


@customer_router.post("/service/complaints")
async def file_complaint(request: Request, user: PageUser, state: State) -> Response:
    form = await form_data(request)
    values = {k: str(form.get(k, ""))[:2000] for k in ("subject", "text", "transfer_id")}
    try:
        check_form_csrf(request, str(form.get("csrf_token", "")), user)
        case = await run_in_threadpool(
            lambda: actions.file_complaint(
                state=state,
                user=user,
                client=client_of(request, "web"),
                subject=values["subject"],
                text=values["text"],
                transfer_id=values["transfer_id"] or None,
            )
        )
    except DomainError as exc:
        return _complaints_page(
            request,
            state,
            user,
            form=values,
            error=error_text(request, exc),
            status=exc.status,
        )
    return RedirectResponse(f"/service/complaints/{case.public_id}", status_code=303)


@customer_router.get("/service/complaints/{complaint_id}")
def complaint(complaint_id: str, request: Request, user: PageUser, state: State) -> Response:
    found = actions.my_complaint(state=state, user=user, complaint_id=complaint_id)
    return render(
        request,
        "risk/complaint.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "c": found.case,
            "messages": found.messages,
            "status_of": STATUS_OF,
        },
    )
