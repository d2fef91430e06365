"""Pages: the customer's mobile alias (手机号收款), and paying a mobile number (手机号转账),
whose confirmation is the transfer's own confirm page."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from wangyin.accounts import service as accounts
from wangyin.aliases import actions
from wangyin.aliases.schemas import MobileTransferIn
from wangyin.clearing.settings import clearing_settings
from wangyin.errors import DomainError
from wangyin.identity.service import CurrentUser
from wangyin.ids import new_token
from wangyin.runtime import AppState
from wangyin.uow import run_read
from wangyin.web.context import PageUser, State, caller_of, check_form_csrf, client_of
from wangyin.web.forms import error_text, form_data
from wangyin.web.render import render

router = APIRouter()


def _own_accounts(state: AppState, user: CurrentUser) -> list[accounts.AccountView]:
    views = run_read(state.db, lambda s: accounts.list_accounts(s, customer_id=user.customer_id))
    return [a for a in views if a.status == "active" and a.currency == "CNY"]


def _alias_page(
    request: Request,
    state: AppState,
    user: CurrentUser,
    *,
    error: str = "",
    sent: str = "",
    account_id: str = "",
    status: int = 200,
) -> Response:
    return render(
        request,
        "aliases/alias.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "alias": actions.current_alias(state=state, user=user),
            "accounts": _own_accounts(state, user),
            "error": error,
            "sent": sent,
            "account_id": account_id,
        },
        status=status,
    )


@router.get("/mobile-alias")
def alias_page(request: Request, user: PageUser, state: State) -> Response:
    return _alias_page(request, state, user, sent=request.query_params.get("sent", "")[:10])


@router.post("/mobile-alias")
async def alias_submit(request: Request, user: PageUser, state: State) -> Response:
    """One form, three buttons: send the code, register with it, or remove the alias."""
    form = await form_data(request)
    account_id = form.get("account_id", "")[:40]
    try:
        check_form_csrf(request, form.get("csrf_token", ""), user)
        step = form.get("step", "")
        if step == "code":
            actions.send_alias_code(
                state=state,
                user=user,
                client=client_of(request),
                account_id=account_id,
                channel="voice" if form.get("channel") == "voice" else "sms",
            )
            return _alias_page(request, state, user, sent="sms", account_id=account_id)
        if step == "register":
            actions.register_alias(
                state=state,
                user=user,
                client=client_of(request),
                account_id=account_id,
                code=form.get("code", ""),
            )
        elif step == "remove":
            actions.remove_alias(state=state, user=user, client=client_of(request))
        else:
            raise DomainError("validation_error")
    except DomainError as exc:
        return _alias_page(
            request,
            state,
            user,
            error=error_text(request, exc),
            account_id=account_id,
            status=exc.status,
        )
    return RedirectResponse("/mobile-alias", status_code=303)


def _transfer_page(
    request: Request,
    state: AppState,
    user: CurrentUser,
    values: dict[str, str],
    *,
    payee: object = None,
    error: str = "",
    status: int = 200,
    step_two: bool = False,
) -> Response:
    return render(
        request,
        "aliases/transfer.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "accounts": _own_accounts(state, user),
            "values": values,
            "payee": payee,
            "step_two": step_two or payee is not None,
            "error": error,
            "idempotency_key": values.get("idempotency_key") or new_token(),
            "ibps_ceiling_minor": clearing_settings().ibps_ceiling_minor,
        },
        status=status,
    )


@router.get("/mobile-transfer")
def mobile_transfer_form(
    request: Request,
    user: PageUser,
    state: State,
    mobile: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """Step one: the mobile number; step two (?mobile=): its masked name and bank."""
    values = {"to_mobile": mobile}
    if not mobile:
        return _transfer_page(request, state, user, values)
    try:
        payee = actions.look_up(state=state, user=user, mobile=mobile)
    except DomainError as exc:
        return _transfer_page(
            request, state, user, values, error=error_text(request, exc), status=exc.status
        )
    return _transfer_page(request, state, user, values, payee=payee)


def _look_up_page(
    request: Request, state: AppState, user: CurrentUser, form: dict[str, str]
) -> Response:
    """Step two from a posted number: the number stays out of the URL."""
    values = {"to_mobile": form.get("mobile", "")[:20]}
    try:
        check_form_csrf(request, form.get("csrf_token", ""), user)
        payee = actions.look_up(state=state, user=user, mobile=values["to_mobile"])
    except DomainError as exc:
        return _transfer_page(
            request, state, user, values, error=error_text(request, exc), status=exc.status
        )
    return _transfer_page(request, state, user, values, payee=payee)


@router.post("/mobile-transfer")
async def mobile_transfer_submit(request: Request, user: PageUser, state: State) -> Response:
    form = await form_data(request)
    if form.get("step") == "lookup":
        return _look_up_page(request, state, user, form)
    fields = ("from_account_id", "to_mobile", "name_check", "amount", "remark")
    values = {name: form.get(name, "") for name in (*fields, "idempotency_key")}
    try:
        check_form_csrf(request, form.get("csrf_token", ""), user)
        # The session cookie, with the form's CSRF token (checked again in the use case).
        form_caller = replace(
            caller_of(request, "web"),
            via_cookie=True,
            csrf_sent=form.get("csrf_token", ""),
            unsafe_method=True,
        )
        try:
            body = MobileTransferIn(**{name: values[name] for name in fields})
        except ValidationError:
            raise DomainError("validation_error") from None
        _status, answer, _ = actions.prepare_by_mobile(
            state=state, caller=form_caller, key=values["idempotency_key"], body=body
        )
    except DomainError as exc:
        values["idempotency_key"] = ""  # a refusal is the answer under its key: a new one
        return _transfer_page(
            request,
            state,
            user,
            values,
            error=error_text(request, exc),
            status=exc.status,
            step_two=True,
        )
    # An alias at another bank was prepared as an inter-bank transfer: its own confirm page.
    kind = "interbank" if "system" in answer else "transfer"
    return RedirectResponse(f"/{kind}/{answer['id']}/confirm", status_code=303)
