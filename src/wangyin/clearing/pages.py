"""HTML pages of inter-bank transfers: the form (bank from the directory or the card's
BIN, arrival speed) -> confirmation -> result (status, revoke while not sent), and the
bank directory's search. The same shapes as payments.pages, without JavaScript."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from wangyin.accounts import service as accounts
from wangyin.backoffice.context import Staff
from wangyin.backoffice.pages import _page, refused
from wangyin.clearing import actions
from wangyin.clearing.schemas import InterbankPrepareIn
from wangyin.errors import DomainError
from wangyin.identity.service import CurrentUser, require_transfers_allowed
from wangyin.ids import new_token
from wangyin.payments.pages import CONFIRM_FIELDS_OF, RETRYABLE_ON_PAGE, _form_caller
from wangyin.uow import run_read
from wangyin.web.context import AppState, PageUser, State, caller_of, check_form_csrf, client_of
from wangyin.web.forms import error_text, field_errors, form_data, send_code_form
from wangyin.web.render import render

router = APIRouter()

FORM_FIELDS = (
    "from_account_id",
    "bank_code",
    "payee_account",
    "payee_name",
    "amount",
    "speed",
    "remark",
)
FIELDS_OF = {
    "invalid_amount": "amount",
    "amount_not_positive": "amount",
    "amount_too_precise": "amount",
    "amount_too_large": "amount",
    "over_single_limit": "amount",
    "over_daily_limit": "amount",
    "insufficient_funds": "amount",
    "certificate_required": "amount",
    "invalid_payee_account": "payee_account",
    "same_bank_payee": "payee_account",
    "bank_code_required": "bank_code",
    "invalid_bank_code": "bank_code",
    "unknown_bank_code": "bank_code",
}


def _form_page(
    request: Request,
    state: AppState,
    user: CurrentUser,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    own = run_read(state.db, lambda s: accounts.list_accounts(s, customer_id=user.customer_id))
    return render(
        request,
        "clearing/form.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "accounts": [a for a in own if a.status == "active" and a.currency == "CNY"],
            "banks": actions.all_banks(state=state),
            "values": values,
            "errors": errors or {},
            "idempotency_key": values.get("idempotency_key") or new_token(),
            "recent": actions.list_transfers(state=state, user=user)[:5],
        },
        status=status,
    )


@router.get("/interbank")
def form(
    request: Request,
    user: PageUser,
    state: State,
    bank: Annotated[str, Query(max_length=12)] = "",
) -> Response:
    values = {"bank_code": bank, "speed": "realtime"}
    try:
        require_transfers_allowed(user)
    except DomainError as exc:
        return _form_page(request, state, user, values, {"": error_text(request, exc)})
    return _form_page(request, state, user, values)


@router.get("/interbank/banks")
def banks(
    request: Request, user: PageUser, state: State, q: Annotated[str, Query(max_length=60)] = ""
) -> Response:
    """The bank directory's look-up: choose a branch and return to the form with it."""
    found = actions.search_banks(state=state, query=q) if q.strip() else []
    return render(request, "clearing/banks.html", {"user": user, "query": q, "banks": found})


@router.post("/interbank")
async def submit(request: Request, user: PageUser, state: State) -> Response:
    form = await form_data(request)
    values = {key: form.get(key, "")[:60] for key in (*FORM_FIELDS, "idempotency_key")}
    try:
        check_form_csrf(request, form.get("csrf_token", ""), user)
        try:
            body = InterbankPrepareIn(
                **{k: values[k] for k in FORM_FIELDS if k != "speed"},
                speed=values["speed"] or "realtime",
            )
        except ValidationError:
            raise DomainError("validation_error") from None
        _, result, _ = actions.prepare(
            state=state,
            caller=_form_caller(request, form),
            key=values["idempotency_key"],
            body=body,
        )
    except DomainError as exc:
        values["idempotency_key"] = ""
        return _form_page(
            request, state, user, values, field_errors(request, exc, FIELDS_OF), exc.status
        )
    return RedirectResponse(f"/interbank/{result['id']}/confirm", status_code=303)


def _confirm_page(
    request: Request,
    state: AppState,
    user: CurrentUser,
    transfer_id: str,
    errors: dict[str, str] | None = None,
    sent: str = "",
) -> Response:
    t = actions.view(state=state, user=user, transfer_id=transfer_id)
    if t["status"] != "CHALLENGE_PENDING":
        return RedirectResponse(f"/interbank/{transfer_id}", status_code=303)
    return render(
        request,
        "clearing/confirm.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "t": t,
            "idempotency_key": new_token(),
            "errors": errors or {},
            "sent": sent,
        },
        status=422 if errors else 200,
    )


@router.get("/interbank/{transfer_id}/confirm")
def confirm_page(transfer_id: str, request: Request, user: PageUser, state: State) -> Response:
    sent = request.query_params.get("sent", "")
    return _confirm_page(
        request, state, user, transfer_id, sent=sent if sent in ("sms", "voice") else ""
    )


@router.post("/interbank/{transfer_id}/code")
async def send_code(transfer_id: str, request: Request, user: PageUser, state: State) -> Response:
    return await send_code_form(
        request,
        user,
        send=lambda channel: actions.send_code(
            state=state,
            user=user,
            transfer_id=transfer_id,
            channel=channel,
            caller=caller_of(request, "web"),
        ),
        not_found="transfer_not_found",
        refused=lambda exc: _confirm_page(
            request, state, user, transfer_id, {"": error_text(request, exc)}
        ),
        sent_to=f"/interbank/{transfer_id}/confirm",
    )


@router.post("/interbank/{transfer_id}/confirm")
async def confirm_submit(
    transfer_id: str, request: Request, user: PageUser, state: State
) -> Response:
    form = await form_data(request)
    try:
        check_form_csrf(request, form.get("csrf_token", ""), user)
        actions.confirm(
            state=state,
            caller=_form_caller(request, form),
            key=form.get("idempotency_key", ""),
            transfer_id=transfer_id,
            key_digest=(form.get("key_digest") or "")[:64] or None,
            transaction_password=form.get("transaction_password") or None,
            code=form.get("code") or None,
            acknowledged=form.get("acknowledge_warnings") == "yes",
        )
    except DomainError as exc:
        if exc.code == "transfer_not_found":
            raise
        if exc.code in RETRYABLE_ON_PAGE:
            return _confirm_page(
                request, state, user, transfer_id, field_errors(request, exc, CONFIRM_FIELDS_OF)
            )
        return _result(request, state, user, transfer_id, error_text(request, exc), exc.status)
    return RedirectResponse(f"/interbank/{transfer_id}", status_code=303)


def _result(
    request: Request,
    state: AppState,
    user: CurrentUser,
    transfer_id: str,
    error: str = "",
    status: int = 200,
) -> Response:
    t: dict[str, Any] = actions.view(state=state, user=user, transfer_id=transfer_id)
    return render(
        request,
        "clearing/result.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "t": t,
            "send_after": datetime.fromisoformat(t["send_after"]) if t["send_after"] else None,
            "error": error,
            "idempotency_key": new_token(),
        },
        status=status,
    )


@router.get("/interbank/{transfer_id}")
def result(transfer_id: str, request: Request, user: PageUser, state: State) -> Response:
    return _result(request, state, user, transfer_id)


@router.post("/interbank/{transfer_id}/revoke")
async def revoke(transfer_id: str, request: Request, user: PageUser, state: State) -> Response:
    form = await form_data(request)
    try:
        check_form_csrf(request, form.get("csrf_token", ""), user)
        actions.revoke(
            state=state,
            caller=_form_caller(request, form),
            key=form.get("idempotency_key", ""),
            transfer_id=transfer_id,
        )
    except DomainError as exc:
        if exc.code == "transfer_not_found":
            raise
        return _result(request, state, user, transfer_id, error_text(request, exc), exc.status)
    return RedirectResponse(f"/interbank/{transfer_id}", status_code=303)


# --- the back office: daily reconciliation (对账), /admin/reconciliation ----------------

admin_router = APIRouter(prefix="/admin/reconciliation")


@admin_router.get("")
def reconciliation_runs(staff: Staff, request: Request, state: State) -> Response:
    runs = actions.reconciliation_runs(state=state)
    return _page(request, "clearing/admin_runs.html", staff, runs=runs)


@admin_router.get("/{run_id}")
def reconciliation_run(run_id: int, staff: Staff, request: Request, state: State) -> Response:
    try:
        run, mismatches = actions.reconciliation_run(state=state, run_id=run_id)
    except DomainError as exc:
        return refused(request, exc)
    return _page(request, "clearing/admin_run.html", staff, run=run, mismatches=mismatches)


@admin_router.post("/mismatches/{mismatch_id}/resolve")
async def resolve_mismatch(
    mismatch_id: int, staff: Staff, request: Request, state: State
) -> Response:
    form = await form_data(request)
    try:
        m = await run_in_threadpool(
            lambda: actions.resolve_mismatch(
                state=state,
                staff=staff,
                mismatch_id=mismatch_id,
                reason=form.get("reason", ""),
                client=client_of(request, "admin"),
            )
        )
    except DomainError as exc:
        return refused(request, exc)
    return RedirectResponse(f"/admin/reconciliation/{m.run_id}#mismatch-{m.id}", status_code=303)
