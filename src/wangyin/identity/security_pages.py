"""HTML pages of the security center and the operation log."""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from wangyin.errors import DomainError
from wangyin.identity import security_center as center
from wangyin.identity.security_api import (
    amount_or_zero,
    change_pin,
    change_settings,
    overview,
    send_customer_code,
    unfreeze_with_code,
)
from wangyin.money import parse_amount
from wangyin.uow import run_read, run_write
from wangyin.web.context import PageUser, State, check_form_csrf, client_of
from wangyin.web.forms import error_text, form_data
from wangyin.web.render import render

router = APIRouter()

# What each audit event and outcome is called in the customer's operation log.
EVENT_LABELS = {
    "registration_started": "Registration requested",
    "registered": "Registered for online banking",
    "login": "Login",
    "login_locked": "Login locked",
    "login_unlocked": "Login unlocked",
    "device_bound": "Device bound",
    "device_removed": "Device removed",
    "password_changed": "Login password changed",
    "password_reset_started": "Password reset requested",
    "password_reset": "Login password reset",
    "transaction_password_changed": "Transaction password changed",
    "transaction_password_checked": "Transaction password checked",
    "transaction_password_locked": "Transfers frozen after wrong transaction passwords",
    "code_issued": "Verification code sent",
    "code_checked": "Verification code checked",
    "transfer_prepared": "Transfer prepared",
    "transfer_confirmed": "Transfer confirmed",
    "transfer_refused": "Transfer refused",
    "limits_changed": "Limits changed",
    "password_free_changed": "Password-free settings changed",
    "frozen": "Frozen",
    "unfrozen": "Unfrozen",
}
OUTCOME_LABELS = {
    "success": "Succeeded",
    "failure": "Failed",
    "refused": "Refused",
    "challenged": "Code requested",
}


def _page(
    request: Request,
    state: State,
    user: PageUser,
    *,
    error: str = "",
    done: str = "",
    status: int = 200,
) -> Response:
    info = run_read(state.db, lambda s: overview(s, user=user, settings=state.settings))
    return render(
        request,
        "security/center.html",
        {"user": user, "csrf_token": user.csrf_token, "info": info, "error": error, "done": done},
        status=status,
    )


@router.get("/security")
def security_page(request: Request, user: PageUser, state: State) -> Response:
    return _page(request, state, user, done=request.query_params.get("done", ""))


async def _act(
    request: Request,
    state: State,
    user: PageUser,
    done: str,
    action: Callable[[dict[str, str]], Callable[[Session], object] | None],
) -> Response:
    """Check CSRF, run one change, come back to the page saying what happened."""
    form = await form_data(request)
    try:
        check_form_csrf(request, form.get("csrf_token", ""), user)
        write = action(form)
        if write is not None:
            run_write(state.db, write)
    except DomainError as exc:
        return _page(request, state, user, error=error_text(request, exc), status=exc.status)
    return RedirectResponse(f"/security?done={done}", status_code=303)


@router.post("/security/limits")
async def limits(request: Request, user: PageUser, state: State) -> Response:
    def action(form: dict[str, str]) -> None:
        change_settings(
            state=state,
            user=user,
            client=client_of(request, "web"),
            what="limits",
            single_minor=parse_amount(form.get("single_limit", ""), "CNY"),
            daily_minor=parse_amount(form.get("daily_limit", ""), "CNY"),
            code=form.get("code") or None,
        )

    return await _act(request, state, user, "limits", action)


@router.post("/security/password-free")
async def password_free(request: Request, user: PageUser, state: State) -> Response:
    def action(form: dict[str, str]) -> None:
        change_settings(
            state=state,
            user=user,
            client=client_of(request, "web"),
            what="password_free",
            single_minor=amount_or_zero(form.get("single", "0") or "0"),
            daily_minor=amount_or_zero(form.get("daily", "0") or "0"),
            code=form.get("code") or None,
        )

    return await _act(request, state, user, "password_free", action)


@router.post("/security/code")
async def settings_code(request: Request, user: PageUser, state: State) -> Response:
    def action(form: dict[str, str]) -> None:
        send_customer_code(
            state=state,
            user=user,
            purpose="settings",
            channel="voice" if form.get("channel") == "voice" else "sms",
            client=client_of(request, "web"),
        )

    return await _act(request, state, user, "code_sent", action)


@router.post("/security/devices/{device_id}/remove")
async def remove_device(device_id: str, request: Request, user: PageUser, state: State) -> Response:
    def action(_form: dict[str, str]) -> Callable[[Session], object]:
        now, client = state.clock.now(), client_of(request, "web")
        return lambda s: center.remove_device(
            s, user_id=user.user_id, device_public_id=device_id, client=client, at=now
        )

    return await _act(request, state, user, "device", action)


@router.post("/security/transaction-password")
async def transaction_password(request: Request, user: PageUser, state: State) -> Response:
    def action(form: dict[str, str]) -> None:
        if form.get("new_pin", "") != form.get("new_pin_again", ""):
            raise DomainError("validation_error")
        change_pin(
            state=state,
            user=user,
            old_pin=form.get("old_pin", ""),
            new_pin=form.get("new_pin", ""),
            client=client_of(request, "web"),
        )

    return await _act(request, state, user, "pin", action)


@router.post("/security/freeze")
async def freeze(request: Request, user: PageUser, state: State) -> Response:
    def action(form: dict[str, str]) -> Callable[[Session], object]:
        scope = form.get("scope", "")
        now, client = state.clock.now(), client_of(request, "web")
        return lambda s: center.freeze(s, user_id=user.user_id, scope=scope, client=client, at=now)

    return await _act(request, state, user, "frozen", action)


@router.post("/security/unfreeze/code")
async def unfreeze_code(request: Request, user: PageUser, state: State) -> Response:
    def action(form: dict[str, str]) -> None:
        send_customer_code(
            state=state,
            user=user,
            purpose="unfreeze",
            channel="voice" if form.get("channel") == "voice" else "sms",
            client=client_of(request, "web"),
        )

    return await _act(request, state, user, "code_sent", action)


@router.post("/security/unfreeze")
async def unfreeze(request: Request, user: PageUser, state: State) -> Response:
    def action(form: dict[str, str]) -> None:
        unfreeze_with_code(
            state=state,
            user=user,
            code=form.get("code", ""),
            transaction_password=form.get("transaction_password") or None,
            id_number=form.get("id_number") or None,
            client=client_of(request, "web"),
        )

    return await _act(request, state, user, "unfrozen", action)


@router.get("/security/log")
def operation_log(request: Request, user: PageUser, state: State) -> Response:
    records = run_read(state.db, lambda s: center.operation_log(s, customer_id=user.customer_id))
    rows = [(r, json.loads(r.details)) for r in records]
    return render(
        request,
        "security/log.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "rows": rows,
            "event_labels": EVENT_LABELS,
            "outcome_labels": OUTCOME_LABELS,
        },
    )
