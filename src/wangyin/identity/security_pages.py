"""HTML pages of the security center and the operation log."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from string import Formatter
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from wangyin.clock import as_utc
from wangyin.errors import ERRORS, DomainError
from wangyin.i18n import gettext
from wangyin.identity import devices
from wangyin.identity import security_center as center
from wangyin.identity.models import UserSession
from wangyin.identity.security_api import (
    amount_or_zero,
    change_pin,
    change_settings,
    overview,
    send_customer_code,
    unfreeze_with_code,
)
from wangyin.money import format_grouped, parse_amount
from wangyin.uow import run_read, run_write
from wangyin.web.context import PageUser, State, check_form_csrf, client_of, lang
from wangyin.web.forms import FormErrors, check, error_text, field_errors, form_data
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
    "payee_added": "Payee added",
    "payee_changed": "Payee changed",
    "payee_removed": "Payee removed",
    "mobile_alias_registered": "Mobile alias registered",
    "mobile_alias_removed": "Mobile alias removed",
}
OUTCOME_LABELS = {
    "success": "Succeeded",
    "failure": "Failed",
    "refused": "Refused",
    "challenged": "Code requested",
}


PINS_DIFFER = "The two new transaction passwords do not match."

# The security centre is a menu of tasks, each on its own page (issue 9): the template,
# and what the page needs besides the overview.
TASKS = {
    "limits": "security/limits.html",
    "password-free": "security/password_free.html",
    "devices": "security/devices.html",
    "freeze": "security/freeze.html",
    "transaction-password": "security/pin.html",
    "logins": "security/logins.html",
}
# Where a form's refusal is shown: the form's field for each error code (the GOV.UK
# pattern), else the form as a whole.
FIELDS = {
    "limits": {
        "limit_above_bank_maximum": "single_limit",
        "step_up_required": "limits_code",
        "otp_invalid": "limits_code",
        "otp_expired": "limits_code",
        "otp_too_many_attempts": "limits_code",
    },
    "password-free": {
        "limit_above_bank_maximum": "pf_single",
        "step_up_required": "pf_code",
        "otp_invalid": "pf_code",
        "otp_expired": "pf_code",
        "otp_too_many_attempts": "pf_code",
    },
    "transaction-password": {
        "wrong_transaction_password": "old_pin",
        "weak_password": "new_pin",
        "keyboard_expired": "old_pin",
    },
    "freeze": {
        "otp_invalid": "unfreeze_code",
        "otp_expired": "unfreeze_code",
        "otp_too_many_attempts": "unfreeze_code",
        "wrong_transaction_password": "transaction_password",
        "wrong_id_number": "unfreeze_id_number",
    },
}


def _amount(text: str) -> str:
    """Limits are shown grouped ("50,000.00"): the customer may send them back so."""
    return text.replace(",", "").replace("，", "").strip()


def _amounts(
    request: Request, texts: dict[str, str], parse: Callable[[str], int]
) -> tuple[int, int]:
    """Both amounts of a limits form, each refusal beside its own field."""
    errors, parsed = {}, []
    for field, text in texts.items():
        try:
            parsed.append(parse(_amount(text)))
        except DomainError as exc:
            errors[field] = error_text(request, exc)
            parsed.append(0)
    check(errors)
    return parsed[0], parsed[1]


def _page(
    request: Request,
    state: State,
    user: PageUser,
    *,
    task: str = "",
    errors: dict[str, str] | None = None,
    done: str = "",
    status: int = 200,
    **extra: object,
) -> Response:
    info = run_read(state.db, lambda s: overview(s, user=user, settings=state.settings))
    if task in ("devices", "logins"):
        extra["devices"], extra["logins"] = run_read(
            state.db, lambda s: _devices_and_logins(s, user_id=user.user_id, lang=lang(request))
        )
    return render(
        request,
        TASKS.get(task, "security/center.html"),
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "info": info,
            "errors": errors or {},
            "done": done,
            "task": task,
            **extra,
        },
        status=status,
    )


@router.get("/security")
def security_page(request: Request, user: PageUser, state: State) -> Response:
    return _page(request, state, user, done=request.query_params.get("done", ""))


def _task_page(task: str) -> Callable[[Request, PageUser, State], Response]:
    def page(request: Request, user: PageUser, state: State) -> Response:
        return _page(request, state, user, task=task, done=request.query_params.get("done", ""))

    return page


for _task in TASKS:
    router.add_api_route(f"/security/{_task}", _task_page(_task), methods=["GET"])


@router.get("/security/freeze/all")
def freeze_all_page(request: Request, user: PageUser, state: State) -> Response:
    """Freezing everything stops the whole online banking: asked once more (5.2.1-e)."""
    return _page(request, state, user, task="freeze", confirm_all=True)


async def _act(
    request: Request,
    state: State,
    user: PageUser,
    task: str,
    done: str,
    action: Callable[[dict[str, str]], Callable[[Session], object] | None],
) -> Response:
    """Check CSRF, run one change, come back to the task's page saying what happened."""
    form = await form_data(request)
    try:
        check_form_csrf(request, form.get("csrf_token", ""), user)
        write = action(form)
        if write is not None:
            run_write(state.db, write)
    except FormErrors as exc:
        return _page(request, state, user, task=task, errors=exc.errors, status=422)
    except DomainError as exc:
        errors = field_errors(request, exc, FIELDS.get(task))
        return _page(request, state, user, task=task, errors=errors, status=exc.status)
    return RedirectResponse(f"/security/{task}?done={done}", status_code=303)


@router.post("/security/limits")
async def limits(request: Request, user: PageUser, state: State) -> Response:
    def action(form: dict[str, str]) -> None:
        texts = {
            "single_limit": form.get("single_limit", ""),
            "daily_limit": form.get("daily_limit", ""),
        }
        single, daily = _amounts(request, texts, lambda text: parse_amount(text, "CNY"))
        change_settings(
            state=state,
            user=user,
            client=client_of(request, "web"),
            what="limits",
            single_minor=single,
            daily_minor=daily,
            code=form.get("code") or None,
        )

    return await _act(request, state, user, "limits", "limits", action)


@router.post("/security/password-free")
async def password_free(request: Request, user: PageUser, state: State) -> Response:
    def action(form: dict[str, str]) -> None:
        texts = {"pf_single": form.get("single", ""), "pf_daily": form.get("daily", "")}
        single, daily = _amounts(request, texts, lambda text: amount_or_zero(text or "0"))
        change_settings(
            state=state,
            user=user,
            client=client_of(request, "web"),
            what="password_free",
            single_minor=single,
            daily_minor=daily,
            code=form.get("code") or None,
        )

    return await _act(request, state, user, "password-free", "password_free", action)


@router.post("/security/code")
async def settings_code(request: Request, user: PageUser, state: State) -> Response:
    # Sent from the limits page or the password-free page, and back to it.
    task = "password-free" if request.query_params.get("for") == "password-free" else "limits"

    def action(form: dict[str, str]) -> None:
        send_customer_code(
            state=state,
            user=user,
            purpose="settings",
            channel="voice" if form.get("channel") == "voice" else "sms",
            client=client_of(request, "web"),
        )

    return await _act(request, state, user, task, "code_sent", action)


@router.post("/security/devices/{device_id}/remove")
async def remove_device(device_id: str, request: Request, user: PageUser, state: State) -> Response:
    def action(_form: dict[str, str]) -> Callable[[Session], object]:
        now, client = state.clock.now(), client_of(request, "web")
        return lambda s: center.remove_device(
            s, user_id=user.user_id, device_public_id=device_id, client=client, at=now
        )

    return await _act(request, state, user, "devices", "device", action)


@router.post("/security/transaction-password")
async def transaction_password(request: Request, user: PageUser, state: State) -> Response:
    def action(form: dict[str, str]) -> None:
        if form.get("new_pin", "") != form.get("new_pin_again", ""):
            check({"new_pin_again": gettext(PINS_DIFFER, lang(request))})
        change_pin(
            state=state,
            user=user,
            old_pin=form.get("old_pin", ""),
            new_pin=form.get("new_pin", ""),
            client=client_of(request, "web"),
        )

    return await _act(request, state, user, "transaction-password", "pin", action)


@router.post("/security/freeze")
async def freeze(request: Request, user: PageUser, state: State) -> Response:
    def action(form: dict[str, str]) -> Callable[[Session], object]:
        scope = form.get("scope", "")
        now, client = state.clock.now(), client_of(request, "web")
        return lambda s: center.freeze(s, user_id=user.user_id, scope=scope, client=client, at=now)

    return await _act(request, state, user, "freeze", "frozen", action)


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

    return await _act(request, state, user, "freeze", "code_sent", action)


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

    return await _act(request, state, user, "freeze", "unfrozen", action)


# --- devices and logins as the customer knows them (issue 9) ----------------------------


@dataclass(frozen=True)
class DeviceLine:
    id: str
    name: str  # "Chrome on Windows"
    channel: str  # "web" | "app"
    first_used: datetime
    last_used: datetime
    place: str | None  # the country of the last IP it was used from, if known


@dataclass(frozen=True)
class LoginLine:
    at: datetime
    name: str
    channel: str
    ip: str
    place: str | None


def _devices_and_logins(
    session: Session, *, user_id: int, lang: str
) -> tuple[list[DeviceLine], list[LoginLine]]:
    logins = center.login_history(session, user_id=user_id)
    login_lines = []
    for s in logins:
        seen_as = devices.describe(
            s.user_agent, client_type=s.client_type, os_version=s.os_version, lang=lang
        )
        login_lines.append(
            LoginLine(
                at=as_utc(s.created_at),
                name=seen_as.name,
                channel=seen_as.channel,
                ip=s.ip,
                place=devices.place_of(s.ip, lang),
            )
        )
    # A login names its bound device by public id: the newest tells where it was last.
    last_login: dict[str, UserSession] = {}
    for s in logins:
        last_login.setdefault(s.device_id, s)
    device_lines = []
    for bound in center.devices(session, user_id=user_id):
        client_type, os_version, agent = devices.split_label(bound.label)
        seen = last_login.get(bound.public_id)
        described = devices.describe(
            seen.user_agent if seen else agent,
            client_type=seen.client_type if seen else client_type,
            os_version=seen.os_version if seen else os_version,
            lang=lang,
        )
        device_lines.append(
            DeviceLine(
                id=bound.public_id,
                name=described.name,
                channel=described.channel,
                first_used=as_utc(bound.bound_at),
                last_used=as_utc(bound.last_seen_at),
                place=devices.place_of(seen.ip, lang) if seen else None,
            )
        )
    return device_lines, login_lines


# --- the operation log in plain words (issue 9) ------------------------------------------

# Why a login asked for a code, and what a code was for.
LOGIN_REASONS = {
    "new_device": "a device you had not used before",
    "night": "a login at night (00:00-06:00)",
}
CODE_PURPOSES = {
    "login": "to log in",
    "device": "to bind a new device",
    "transfer": "to confirm a transfer",
    "unfreeze": "to unfreeze",
    "reset": "to reset your password",
    "register": "to register",
    "settings": "to raise a limit",
}
CHANNELS = {"sms": "by SMS", "voice": "by voice call"}
SCOPES = {"transfers": "Transfers only", "all": "All online banking"}


def _tail(masked: str) -> str:
    return masked[-4:] if masked else ""


def describe_event(event: str, details: dict[str, Any], lang: str) -> str:
    """What happened, in the customer's words: amounts, account endings and reasons from
    the record's details, never its codes or ids (4.4-c2 keeps them for investigators)."""

    def t(text: str, **params: Any) -> str:
        return gettext(text, lang, **params)

    reason = details.get("reason")
    why = ""
    if isinstance(reason, str) and reason in ERRORS:
        why = gettext(ERRORS[reason][1], lang, **_placeholders(ERRORS[reason][1]))
    amount = details.get("amount")
    currency = details.get("currency", "")
    to = _tail(str(details.get("to", "")))
    if event.startswith("transfer_") and amount:
        text = (
            t(
                "{amount} {currency} to the account ending {tail}",
                amount=amount,
                currency=currency,
                tail=to,
            )
            if to
            else t("{amount} {currency}", amount=amount, currency=currency)
        )
        return f"{text}{t('; ') if why else ''}{why}"
    if event == "login":
        reasons = details.get("reasons") or []
        asked = [t(LOGIN_REASONS[r]) for r in reasons if r in LOGIN_REASONS]
        if asked:
            return t("A code was asked for {reasons}.", reasons=t(", ").join(asked))
        return why
    if event in ("code_issued", "code_checked"):
        purpose = CODE_PURPOSES.get(str(details.get("purpose", "")))
        channel = CHANNELS.get(str(details.get("channel", "")))
        if purpose and channel:
            return t("{purpose} ({channel})", purpose=t(purpose), channel=t(channel))
        return t(purpose or channel or "")
    if event == "frozen" and details.get("scope") in SCOPES:
        return t(SCOPES[details["scope"]])
    if event in ("limits_changed", "password_free_changed"):
        single, daily = details.get("single_minor"), details.get("daily_minor")
        if isinstance(single, int) and isinstance(daily, int):
            return t(
                "Per transfer {single}, per day {daily}",
                single=t("CNY {amount}", amount=format_grouped(single, "CNY")),
                daily=t("CNY {amount}", amount=format_grouped(daily, "CNY")),
            )
    if event == "login_locked" and details.get("until"):
        return ""
    if event.startswith("payee_") and details.get("account"):
        return t("The account ending {tail}", tail=_tail(str(details["account"])))
    return why


def _placeholders(template: str) -> dict[str, str]:
    """An error message's fields left as they are: the log keeps no parameters."""
    return {name: "" for _, name, _, _ in Formatter().parse(template) if name}


@router.get("/security/log")
def operation_log(request: Request, user: PageUser, state: State) -> Response:
    records = run_read(state.db, lambda s: center.operation_log(s, customer_id=user.customer_id))
    language = lang(request)
    rows = [(r, describe_event(r.event, json.loads(r.details), language)) for r in records]
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
