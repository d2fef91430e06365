"""HTML pages of scheduled and recurring transfers, under /transfer (the transaction
password's channel opens only for the session there): list, new / edit form -> confirm
page (code + transaction password) -> detail with the history of runs; pause, resume,
cancel."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from wangyin.accounts import service as accounts
from wangyin.clock import BANK_TZ
from wangyin.errors import DomainError
from wangyin.identity.service import Caller, CurrentUser
from wangyin.ids import new_token
from wangyin.runtime import AppState
from wangyin.schedules import actions
from wangyin.schedules.schemas import ScheduleIn
from wangyin.uow import run_read
from wangyin.web.context import PageUser, State, caller_of, check_form_csrf, client_of, lang
from wangyin.web.forms import error_text, form_data, send_code_form
from wangyin.web.render import render

router = APIRouter()

_MOMENTS = frozenset(
    {
        "start_at",
        "next_run_at",
        "created_at",
        "confirm_by",
        "confirmed_at",
        "due_at",
        "finished_at",
        "next_attempt_at",
    }
)


def moments(view: dict[str, Any]) -> dict[str, Any]:
    """The view's ISO moments as datetimes, for the `localtime` filter (bank time)."""
    out = {k: datetime.fromisoformat(v) if k in _MOMENTS and v else v for k, v in view.items()}
    if "runs" in view:
        out["runs"] = [moments(run) for run in view["runs"]]
    if "lines" in view:
        out["lines"] = view["lines"]
    return out


FIELDS = (
    "from_account_id",
    "to_account_number",
    "payee_name",
    "amount",
    "remark",
    "frequency",
    "start_date",
    "start_time",
    "end_date",
    "max_runs",
)
BASE = "/transfer/schedules"


def form_caller(request: Request, form: dict[str, str]) -> Caller:
    """The page's caller: the session cookie, with the form's CSRF token."""
    caller = caller_of(request, "web")
    return Caller(
        token=caller.token,
        via_cookie=True,
        csrf_sent=form.get("csrf_token", ""),
        path=caller.path,
        unsafe_method=True,
        client=caller.client,
    )


def _form_page(
    request: Request,
    state: AppState,
    user: CurrentUser,
    values: dict[str, str],
    *,
    replaces: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    own = run_read(state.db, lambda s: accounts.list_accounts(s, customer_id=user.customer_id))
    tomorrow = (state.clock.now().astimezone(BANK_TZ) + timedelta(days=1)).date().isoformat()
    return render(
        request,
        "schedules/form.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "accounts": [a for a in own if a.status == "active"],
            "values": {"start_date": tomorrow, "start_time": "09:00", **values},
            "replaces": replaces,
            "error": error,
            "idempotency_key": new_token(),
        },
        status=status,
    )


@router.get(BASE)
def schedule_list(request: Request, user: PageUser, state: State) -> Response:
    return render(
        request,
        "schedules/list.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "schedules": [
                moments(v)
                for v in actions.list_schedules(state=state, user=user, lang=lang(request))
            ],
        },
    )


@router.get(f"{BASE}/new")
def new_schedule(request: Request, user: PageUser, state: State) -> Response:
    return _form_page(request, state, user, {})


@router.get(BASE + "/{schedule_id}/edit")
def edit_schedule(schedule_id: str, request: Request, user: PageUser, state: State) -> Response:
    current = actions.get_schedule(
        state=state, user=user, schedule_id=schedule_id, lang=lang(request)
    )
    return _form_page(
        request,
        state,
        user,
        {
            "payee_name": current["payee_name"],
            "amount": current["amount"],
            "remark": current["remark"],
            "frequency": current["frequency"],
        },
        replaces=schedule_id,
    )


@router.post(BASE)
async def give(request: Request, user: PageUser, state: State) -> Response:
    form = await form_data(request)
    values = {key: str(form.get(key, ""))[:60] for key in FIELDS}
    replaces = str(form.get("replaces", ""))[:40] or None
    try:
        check_form_csrf(request, form.get("csrf_token", ""), user)
        try:
            body = ScheduleIn.model_validate(
                {
                    **{k: v for k, v in values.items() if k not in ("end_date", "max_runs")},
                    "end_date": values["end_date"] or None,
                    "max_runs": int(values["max_runs"]) if values["max_runs"].strip() else None,
                }
            )
        except (ValidationError, ValueError):
            raise DomainError("validation_error") from None
        _, result, _ = actions.give(
            state=state,
            caller=form_caller(request, form),
            key=form.get("idempotency_key", ""),
            body=body,
            replaces=replaces,
        )
    except DomainError as exc:
        return _form_page(
            request,
            state,
            user,
            values,
            replaces=replaces or "",
            error=error_text(request, exc),
            status=exc.status,
        )
    return RedirectResponse(f"{BASE}/{result['id']}/confirm", status_code=303)


def _confirm_page(
    request: Request,
    state: AppState,
    user: CurrentUser,
    schedule_id: str,
    *,
    error: str = "",
    sent: str = "",
) -> Response:
    view = actions.get_schedule(state=state, user=user, schedule_id=schedule_id, lang=lang(request))
    if view["status"] != "pending":
        return RedirectResponse(f"{BASE}/{schedule_id}", status_code=303)
    return render(
        request,
        "schedules/confirm.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "s": moments(view),
            "error": error,
            "sent": sent,
            "idempotency_key": new_token(),
        },
        status=422 if error else 200,
    )


@router.get(BASE + "/{schedule_id}/confirm")
def confirm_page(schedule_id: str, request: Request, user: PageUser, state: State) -> Response:
    sent = request.query_params.get("sent", "")
    return _confirm_page(
        request, state, user, schedule_id, sent=sent if sent in ("sms", "voice") else ""
    )


@router.post(BASE + "/{schedule_id}/code")
async def send_code(schedule_id: str, request: Request, user: PageUser, state: State) -> Response:
    return await send_code_form(
        request,
        user,
        send=lambda channel: actions.send_code(
            state=state,
            user=user,
            schedule_id=schedule_id,
            channel=channel,
            client=client_of(request, "web"),
        ),
        not_found="schedule_not_found",
        refused=lambda exc: _confirm_page(
            request, state, user, schedule_id, error=error_text(request, exc)
        ),
        sent_to=f"{BASE}/{schedule_id}/confirm",
    )


@router.post(BASE + "/{schedule_id}/confirm")
async def confirm(schedule_id: str, request: Request, user: PageUser, state: State) -> Response:
    form = await form_data(request)
    try:
        check_form_csrf(request, form.get("csrf_token", ""), user)
        actions.confirm(
            state=state,
            caller=form_caller(request, form),
            key=form.get("idempotency_key", ""),
            schedule_id=schedule_id,
            key_digest=(form.get("key_digest") or "")[:64] or None,
            transaction_password=form.get("transaction_password") or None,
            code=form.get("code") or None,
        )
    except DomainError as exc:
        if exc.code == "schedule_not_found":
            raise
        return _confirm_page(request, state, user, schedule_id, error=error_text(request, exc))
    return RedirectResponse(f"{BASE}/{schedule_id}?done=confirmed", status_code=303)


@router.get(BASE + "/{schedule_id}")
def detail(schedule_id: str, request: Request, user: PageUser, state: State) -> Response:
    view = actions.get_schedule(state=state, user=user, schedule_id=schedule_id, lang=lang(request))
    return _detail_page(request, user, view, done=request.query_params.get("done", "")[:20])


def _detail_page(
    request: Request,
    user: CurrentUser,
    view: dict[str, Any],
    *,
    done: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    return render(
        request,
        "schedules/detail.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "s": moments(view),
            "done": done,
            "error": error,
        },
        status=status,
    )


async def _change(
    schedule_id: str, action: str, request: Request, user: CurrentUser, state: AppState
) -> Response:
    form = await form_data(request)
    try:
        check_form_csrf(request, form.get("csrf_token", ""), user)
        actions.change_state(
            state=state,
            user=user,
            client=client_of(request, "web"),
            schedule_id=schedule_id,
            action=action,
        )
    except DomainError as exc:
        if exc.code == "schedule_not_found":
            raise
        view = actions.get_schedule(
            state=state, user=user, schedule_id=schedule_id, lang=lang(request)
        )
        return _detail_page(request, user, view, error=error_text(request, exc), status=exc.status)
    return RedirectResponse(f"{BASE}/{schedule_id}?done={action}", status_code=303)


@router.post(BASE + "/{schedule_id}/pause")
async def pause(schedule_id: str, request: Request, user: PageUser, state: State) -> Response:
    return await _change(schedule_id, "pause", request, user, state)


@router.post(BASE + "/{schedule_id}/resume")
async def resume(schedule_id: str, request: Request, user: PageUser, state: State) -> Response:
    return await _change(schedule_id, "resume", request, user, state)


@router.post(BASE + "/{schedule_id}/cancel")
async def cancel(schedule_id: str, request: Request, user: PageUser, state: State) -> Response:
    return await _change(schedule_id, "cancel", request, user, state)
