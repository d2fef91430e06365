"""HTML pages: transfer form -> confirmation page -> result page."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from wangyin.accounts import service as accounts
from wangyin.accounts.models import Account
from wangyin.clock import as_utc
from wangyin.errors import DomainError
from wangyin.identity.models import OtpCode
from wangyin.identity.service import Caller, CurrentUser, require_transfers_allowed
from wangyin.ids import new_token
from wangyin.money import format_grouped, format_minor, parse_amount
from wangyin.payees import actions as payee_actions
from wangyin.payments import actions
from wangyin.payments import service as payments
from wangyin.payments.models import TransferRequest
from wangyin.payments.schemas import TransferPrepareIn
from wangyin.receipts import actions as receipt_actions
from wangyin.reversals import actions as reversal_actions
from wangyin.uow import run_read
from wangyin.web.context import AppState, PageUser, State, caller_of, check_form_csrf
from wangyin.web.forms import error_text, field_errors, form_data, send_code_form
from wangyin.web.render import render

router = APIRouter()

FORM_FIELDS = ("from_account_id", "to_account_number", "payee_name", "amount", "remark")


def _form_page(
    request: Request,
    state: AppState,
    user: CurrentUser,
    values: dict[str, str],
    error: str | dict[str, str] = "",
    status: int = 200,
) -> Response:
    own = run_read(state.db, lambda s: accounts.list_accounts(s, customer_id=user.customer_id))
    return render(
        request,
        "payments/transfer.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "accounts": [a for a in own if a.status == "active"],
            "values": values,
            "error": error,
            # A fresh key per form: a double-clicked or re-sent form prepares only once.
            "idempotency_key": values.get("idempotency_key") or new_token(),
        },
        status=status,
    )


@router.get("/transfer")
def transfer_form(request: Request, user: PageUser, state: State) -> Response:
    values = {"from_account_id": request.query_params.get("from", "")[:40]}
    # From the payee book (?payee=) or "transfer again" (?again=, 再转一笔).
    values.update(
        payee_actions.transfer_prefill(
            state=state,
            user=user,
            payee_id=request.query_params.get("payee", "")[:40],
            again=request.query_params.get("again", "")[:40],
        )
    )
    try:
        require_transfers_allowed(user)
    except DomainError as exc:
        return _form_page(request, state, user, values, error_text(request, exc))
    return _form_page(request, state, user, values)


def _typed(session: Session, *, customer_id: int, transfer_id: str) -> dict[str, str] | None:
    """What the customer typed for a transfer (the confirm page shows the payee's account
    masked): for 返回修改, the form filled in again."""
    source, payee = aliased(Account), aliased(Account)
    row = session.execute(
        select(TransferRequest, source.public_id, payee.account_number)
        .join(source, source.id == TransferRequest.from_account_id)
        .join(payee, payee.id == TransferRequest.to_account_id)
        .where(
            TransferRequest.public_id == transfer_id,
            TransferRequest.customer_id == customer_id,
        )
    ).first()
    if row is None:
        return None
    transfer, from_id, to_number = row
    return {
        "from_account_id": from_id,
        "to_account_number": to_number,
        "payee_name": transfer.payee_name,
        "amount": format_minor(transfer.amount_minor, transfer.currency),
        "remark": transfer.remark,
    }


def _code_expires(session: Session, *, user_id: int, digest: str) -> datetime | None:
    """When the transfer's live code expires: it lives otp_valid_seconds (60 s), far less
    than the transfer, so the page counts down its own life, then offers a new one."""
    expires = session.scalar(
        select(OtpCode.expires_at)
        .where(
            OtpCode.user_id == user_id,
            OtpCode.purpose == "transfer",
            OtpCode.binding == digest,
            OtpCode.used_at.is_(None),
        )
        .order_by(OtpCode.id.desc())
        .limit(1)
    )
    return as_utc(expires) if expires is not None else None


@router.get("/transfer/{transfer_id}/edit")
def transfer_edit(transfer_id: str, request: Request, user: PageUser, state: State) -> Response:
    """返回修改 from the confirm page: the form again with everything typed (issue 9); the
    prepared transfer is left to expire, and the corrected form prepares a new one."""
    values = run_read(
        state.db, lambda s: _typed(s, customer_id=user.customer_id, transfer_id=transfer_id)
    )
    if values is None:
        raise DomainError("transfer_not_found")
    return _form_page(request, state, user, values)


# Where each refusal is shown: beside the field it is about (the GOV.UK pattern, issue 9).
FORM_FIELDS_OF = {
    "invalid_amount": "amount",
    "amount_not_positive": "amount",
    "amount_too_precise": "amount",
    "amount_too_large": "amount",
    "over_single_limit": "amount",
    "over_daily_limit": "amount",
    "over_payee_limit": "amount",
    "insufficient_funds": "amount",
    "payee_not_found": "to_account_number",
    "payee_inactive": "to_account_number",
    "same_account": "to_account_number",
    "currency_mismatch": "to_account_number",
    "payee_name_mismatch": "payee_name",
}
CONFIRM_FIELDS_OF = {
    "otp_invalid": "code",
    "otp_expired": "code",
    "otp_too_many_attempts": "code",
    "wrong_transaction_password": "transaction_password",
}


@router.post("/transfer")
async def transfer_submit(request: Request, user: PageUser, state: State) -> Response:
    form = await form_data(request)
    values = {key: form.get(key, "")[:60] for key in (*FORM_FIELDS, "idempotency_key")}
    try:
        check_form_csrf(request, form.get("csrf_token", ""), user)
        source = run_read(
            state.db,
            lambda s: accounts.owned_account(
                s, customer_id=user.customer_id, account_public_id=values["from_account_id"]
            ),
        )
        # The amount first, for its own message beside the field (not "malformed").
        parse_amount(values["amount"].strip(), source.currency)
        try:
            body = TransferPrepareIn(
                **{key: values[key] for key in FORM_FIELDS}, currency=source.currency
            )
        except ValidationError:
            raise DomainError("validation_error") from None
        _, result, _ = actions.prepare_transfer(
            state=state,
            caller=_form_caller(request, form),
            key=values["idempotency_key"],
            body=body,
        )
    except DomainError as exc:
        values["idempotency_key"] = ""  # a corrected form is a new request
        errors = field_errors(request, exc, FORM_FIELDS_OF)
        return _form_page(request, state, user, values, errors, exc.status)
    return RedirectResponse(f"/transfer/{result['id']}/confirm", status_code=303)


def _form_caller(request: Request, form: dict[str, str]) -> Caller:
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


def _transfer_view(state: AppState, user: CurrentUser, transfer_id: str) -> payments.TransferView:
    return actions.transfer_view(state=state, user=user, transfer_id=transfer_id)


RETRYABLE_ON_PAGE = {
    "second_factor_invalid",
    "otp_invalid",
    "otp_expired",
    "otp_too_many_attempts",
    "wrong_transaction_password",
    "transaction_password_required",
    "warnings_not_acknowledged",
}


def _confirm_page(
    request: Request,
    state: AppState,
    user: CurrentUser,
    transfer_id: str,
    error: str | dict[str, str] = "",
    sent: str = "",
) -> Response:
    view = _transfer_view(state, user, transfer_id)
    code_until = run_read(
        state.db, lambda s: _code_expires(s, user_id=user.user_id, digest=view.key_digest)
    )
    if view.status != "CHALLENGE_PENDING":
        return RedirectResponse(f"/transfer/{transfer_id}", status_code=303)
    return render(
        request,
        "payments/confirm.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "t": view,
            "idempotency_key": new_token(),
            "error": error,
            "sent": sent,
            "code_until": code_until.strftime("%Y-%m-%dT%H:%M:%SZ") if code_until else "",
            "large_reminder": format_grouped(state.settings.large_transfer_reminder_minor, "CNY"),
        },
        status=422 if error else 200,
    )


@router.get("/transfer/{transfer_id}/confirm")
def confirm_page(transfer_id: str, request: Request, user: PageUser, state: State) -> Response:
    return _confirm_page(
        request, state, user, transfer_id, sent=request.query_params.get("sent", "")
    )


@router.post("/transfer/{transfer_id}/code")
async def confirm_send_code(
    transfer_id: str, request: Request, user: PageUser, state: State
) -> Response:
    return await send_code_form(
        request,
        user,
        send=lambda channel: actions.send_transfer_code(
            state=state,
            user=user,
            transfer_id=transfer_id,
            channel=channel,
            caller=caller_of(request, "web"),
        ),
        not_found="transfer_not_found",
        refused=lambda exc: _confirm_page(
            request, state, user, transfer_id, error_text(request, exc)
        ),
        sent_to=f"/transfer/{transfer_id}/confirm",
    )


@router.post("/transfer/{transfer_id}/confirm")
async def confirm_submit(
    transfer_id: str, request: Request, user: PageUser, state: State
) -> Response:
    form = await form_data(request)
    try:
        check_form_csrf(request, form.get("csrf_token", ""), user)
        actions.confirm_transfer(
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
            # A wrong code or password: the same transfer can still be confirmed.
            errors = field_errors(request, exc, CONFIRM_FIELDS_OF)
            return _confirm_page(request, state, user, transfer_id, errors)
        view = _transfer_view(state, user, transfer_id)
        return render(
            request,
            "payments/result.html",
            {
                "user": user,
                "csrf_token": user.csrf_token,
                "t": view,
                "error": error_text(request, exc),
            },
            status=exc.status,
        )
    return RedirectResponse(f"/transfer/{transfer_id}", status_code=303)


@router.get("/transfer/{transfer_id}")
def result_page(transfer_id: str, request: Request, user: PageUser, state: State) -> Response:
    view = _transfer_view(state, user, transfer_id)
    # A completed transfer's e-receipt: reference and verification code on screen, PDF below.
    receipt = (
        receipt_actions.receipt(state=state, user=user, transfer_id=transfer_id)
        if view.status == "COMPLETED"
        else None
    )
    # Reversed by the bank from a risk case (wangyin.reversals): shown beside the status.
    reversal = (
        reversal_actions.my_reversal(state=state, user=user, transfer_id=transfer_id)
        if view.status == "COMPLETED"
        else None
    )
    return render(
        request,
        "payments/result.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "t": view,
            "receipt": receipt,
            "reversal": reversal,
        },
    )
