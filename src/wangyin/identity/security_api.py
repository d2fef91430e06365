"""JSON API of the security center (5.1.2-g, 4.4-c1, 5.1.2-h)."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from wangyin.clock import as_utc
from wangyin.config import Settings
from wangyin.errors import DomainError
from wangyin.identity import security_center as center
from wangyin.identity import service as identity
from wangyin.identity.models import User
from wangyin.identity.security_schemas import (
    CodeIn,
    DeviceOut,
    FreezeIn,
    LimitsIn,
    LimitsOut,
    LoginOut,
    OperationOut,
    PasswordFreeIn,
    SecurityOut,
    TransactionPasswordIn,
)
from wangyin.identity.service import CurrentUser
from wangyin.money import format_minor, parse_amount
from wangyin.security import ratelimit
from wangyin.security.audit import Client
from wangyin.security.channel import reveal, reveal_many
from wangyin.text import SealedText
from wangyin.uow import run_read, run_write
from wangyin.web.context import ApiUser, AppState, State, client_of

router = APIRouter(prefix="/security", tags=["security center"])


def _cny(minor: int) -> str:
    return format_minor(minor, "CNY")


def amount_or_zero(text: str) -> int:
    """Limits accept "0" (off) as well as positive amounts."""
    try:
        if Decimal(text.strip()) == 0:
            return 0
    except InvalidOperation:
        raise DomainError("invalid_amount") from None
    return parse_amount(text, "CNY")


def overview(session: Session, *, user: CurrentUser, settings: Settings) -> SecurityOut:
    record = session.get_one(User, user.user_id)
    limits = center.effective_limits(record, settings)
    bound = {d.public_id for d in center.devices(session, user_id=user.user_id)}
    return SecurityOut(
        freeze=record.freeze,  # type: ignore[arg-type]
        limits=LimitsOut(
            single_limit=_cny(limits.single_minor),
            daily_limit=_cny(limits.daily_minor),
            bank_single_max=_cny(settings.single_transfer_limit_minor),
            bank_daily_max=_cny(settings.daily_transfer_limit_minor),
            password_free_single=_cny(limits.password_free_single_minor),
            password_free_daily=_cny(limits.password_free_daily_minor),
            password_free_single_max=_cny(settings.password_free_single_max_minor),
            password_free_daily_max=_cny(settings.password_free_daily_max_minor),
            cny_rates={k: v for k, v in settings.limit_cny_rates.items() if k != "CNY"},
        ),
        devices=[
            DeviceOut(
                id=d.public_id,
                label=d.label,
                bound_at=as_utc(d.bound_at),
                last_seen_at=as_utc(d.last_seen_at),
            )
            for d in center.devices(session, user_id=user.user_id)
        ],
        recent_logins=[
            LoginOut(
                at=as_utc(s.created_at),
                client_type=s.client_type,
                ip=s.ip,
                os_version=s.os_version,
                user_agent=s.user_agent,
                device_bound=s.device_id in bound,
            )
            for s in center.login_history(session, user_id=user.user_id)
        ],
    )


class UnfreezeBody(BaseModel):
    """The unfreeze code and one more factor: the transaction password or the ID number."""

    model_config = ConfigDict(extra="forbid")

    code: SealedText
    transaction_password: SealedText | None = Field(
        default=None, description="The transaction password, or else `id_number`"
    )
    id_number: SealedText | None = Field(
        default=None, description="The ID number, when the transaction password is not given"
    )


def unfreeze_with_code(
    *,
    state: AppState,
    user: CurrentUser,
    code: str,
    client: Client,
    transaction_password: str | None = None,
    id_number: str | None = None,
) -> None:
    """The code plus the transaction password or ID number (`security_center.unfreeze`);
    a wrong one is counted in the unfreezing transaction itself."""
    now = state.clock.now()
    run_write(
        state.db,
        lambda s: center.unfreeze(
            s,
            user_id=user.user_id,
            code=code,
            transaction_password=transaction_password,
            id_number=id_number,
            client=client,
            at=now,
            settings=state.settings,
        ),
    )


def change_pin(
    *, state: AppState, user: CurrentUser, old_pin: str, new_pin: str, client: Client
) -> None:
    """Change the transaction password; a wrong current one counts like one at confirm,
    in the same transaction (`identity.change_transaction_pin`)."""
    now = state.clock.now()
    run_write(
        state.db,
        lambda s: identity.change_transaction_pin(
            s, user_id=user.user_id, old_pin=old_pin, new_pin=new_pin, client=client, at=now
        ),
    )


def send_customer_code(
    *, state: AppState, user: CurrentUser, purpose: str, channel: str, client: Client
) -> None:
    """Counted against the customer's code limit and sent, in one transaction (see
    `security_center.send_code`); a send refused still counts."""
    now = state.clock.now()
    run_write(
        state.db,
        lambda s: ratelimit.count_then(
            s,
            user_id=user.user_id,
            action="code",
            at=now,
            settings=state.settings,
            then=lambda: center.send_code(
                s,
                user_id=user.user_id,
                purpose=purpose,
                channel=channel,
                client=client,
                at=now,
                settings=state.settings,
            ),
        ),
    )


def change_settings(
    *,
    state: AppState,
    user: CurrentUser,
    client: Client,
    what: str,
    single_minor: int,
    daily_minor: int,
    code: str | None,
) -> None:
    """Limits or password-free thresholds; raising either needs the settings code, and a
    wrong one counts against it in the same transaction."""
    now = state.clock.now()
    setter = center.set_limits if what == "limits" else center.set_password_free
    run_write(
        state.db,
        lambda s: setter(
            s,
            user_id=user.user_id,
            single_minor=single_minor,
            daily_minor=daily_minor,
            client=client,
            at=now,
            settings=state.settings,
            code=code,
        ),
    )


@router.get("", response_model=SecurityOut)
def get_security(user: ApiUser, state: State) -> SecurityOut:
    return run_read(state.db, lambda s: overview(s, user=user, settings=state.settings))


@router.put("/limits", status_code=204)
def put_limits(body: LimitsIn, request: Request, user: ApiUser, state: State) -> Response:
    single, daily = parse_amount(body.single_limit, "CNY"), parse_amount(body.daily_limit, "CNY")
    code = (
        reveal(state, body.code, field="code", session_token=request.state.session_token)
        if body.code is not None
        else None
    )
    change_settings(
        state=state,
        user=user,
        client=client_of(request),
        what="limits",
        single_minor=single,
        daily_minor=daily,
        code=code,
    )
    return Response(status_code=204)


@router.put("/password-free", status_code=204)
def put_password_free(
    body: PasswordFreeIn, request: Request, user: ApiUser, state: State
) -> Response:
    single, daily = amount_or_zero(body.single), amount_or_zero(body.daily)
    code = (
        reveal(state, body.code, field="code", session_token=request.state.session_token)
        if body.code is not None
        else None
    )
    change_settings(
        state=state,
        user=user,
        client=client_of(request),
        what="password_free",
        single_minor=single,
        daily_minor=daily,
        code=code,
    )
    return Response(status_code=204)


@router.post("/code", status_code=204)
def post_settings_code(body: CodeIn, request: Request, user: ApiUser, state: State) -> Response:
    """Send the code that allows raising a limit or turning on password-free payments."""
    send_customer_code(
        state=state,
        user=user,
        purpose="settings",
        channel=body.channel,
        client=client_of(request),
    )
    return Response(status_code=204)


@router.delete("/devices/{device_id}", status_code=204)
def delete_device(device_id: str, request: Request, user: ApiUser, state: State) -> Response:
    now, client = state.clock.now(), client_of(request)
    run_write(
        state.db,
        lambda s: center.remove_device(
            s, user_id=user.user_id, device_public_id=device_id, client=client, at=now
        ),
    )
    return Response(status_code=204)


@router.post("/transaction-password", status_code=204)
def change_transaction_password(
    body: TransactionPasswordIn, request: Request, user: ApiUser, state: State
) -> Response:
    clear = reveal_many(
        state,
        {
            "old_transaction_password": body.old_transaction_password,
            "new_transaction_password": body.new_transaction_password,
        },
       session_token=request.state.session_token,
    )
    change_pin(
        state=state,
        user=user,
        old_pin=clear["old_transaction_password"] or "",
        new_pin=clear["new_transaction_password"] or "",
        client=client_of(request),
    )
    return Response(status_code=204)


@router.post("/freeze", status_code=204)
def post_freeze(body: FreezeIn, request: Request, user: ApiUser, state: State) -> Response:
    now, client = state.clock.now(), client_of(request)
    run_write(
        state.db,
        lambda s: center.freeze(s, user_id=user.user_id, scope=body.scope, client=client, at=now),
    )
    return Response(status_code=204)


@router.post("/unfreeze/code", status_code=204)
def post_unfreeze_code(body: CodeIn, request: Request, user: ApiUser, state: State) -> Response:
    send_customer_code(
        state=state,
        user=user,
        purpose="unfreeze",
        channel=body.channel,
        client=client_of(request),
    )
    return Response(status_code=204)


@router.post("/unfreeze", status_code=204)
def post_unfreeze(body: UnfreezeBody, request: Request, user: ApiUser, state: State) -> Response:
    """Unfreeze with the code from POST /security/unfreeze/code and the transaction password
    (or, if that is forgotten, the ID number)."""
    clear = reveal_many(
        state,
        {
            "code": body.code,
            "transaction_password": body.transaction_password,
            "id_number": body.id_number,
        },
       session_token=request.state.session_token,
    )
    unfreeze_with_code(
        state=state,
        user=user,
        code=clear["code"] or "",
        transaction_password=clear["transaction_password"] or None,
        id_number=clear["id_number"] or None,
        client=client_of(request),
    )
    return Response(status_code=204)


@router.get("/log", response_model=list[OperationOut])
def operation_log(user: ApiUser, state: State) -> list[OperationOut]:
    """The customer's own operation log (5.1.2-h, 4.4-c2)."""
    records = run_read(state.db, lambda s: center.operation_log(s, customer_id=user.customer_id))
    return [
        OperationOut(
            at=as_utc(r.at),
            event=r.event,
            outcome=r.outcome,
            ip=r.ip,
            device_id=r.device_id,
            client=r.client,
            details=json.loads(r.details),
        )
        for r in records
    ]
