"""JSON API: registration, login (with its code step), logout, passwords."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from wangyin.clock import as_utc
from wangyin.identity import actions as identity_actions
from wangyin.identity import service as identity
from wangyin.identity.schemas import (
    ChallengeCodeIn,
    ChallengeVerifyIn,
    ChangePasswordIn,
    Channel,
    LoginIn,
    LoginOut,
    MeOut,
    RegisterIn,
    RegisterOut,
    ResetFinishIn,
    ResetStartIn,
    ResetStartOut,
    Strict,
)
from wangyin.identity.service import LoginOutcome
from wangyin.security.channel import reveal, reveal_many
from wangyin.text import SealedText, Text
from wangyin.uow import run_write
from wangyin.web.context import ApiUser, State, client_of, device_credential_of

router = APIRouter(tags=["identity"])


class RegisterStartIn(RegisterIn):
    channel: Channel = Field(
        default="sms", description="How the code reaches the mobile the bank holds"
    )


class RegisterStartOut(BaseModel):
    registration_id: str
    status: Literal["code_sent"] = "code_sent"
    expires_at: datetime


class RegisterCodeIn(Strict):
    registration_id: Text = Field(min_length=1, max_length=40)
    channel: Channel = "sms"


class RegisterVerifyIn(Strict):
    registration_id: Text = Field(min_length=1, max_length=40)
    code: SealedText


@router.post("/auth/register", status_code=202, response_model=RegisterStartOut)
def register(body: RegisterStartIn, request: Request, state: State) -> RegisterStartOut:
    """Register with the ID number, the reserved mobile and one of our debit cards. A code
    goes to the mobile the bank holds; the login exists once it is entered
    (POST /auth/register/verify)."""
    sensitive = ("id_number", "card_number", "password", "transaction_password")
    clear = reveal_many(state, {name: getattr(body, name) for name in sensitive})
    fields = {**body.model_dump(exclude={*sensitive, "channel"}), **clear}
    registration = identity_actions.start_registration(
        state=state, fields=fields, channel=body.channel, client=client_of(request)
    )
    return RegisterStartOut(
        registration_id=registration.public_id, expires_at=as_utc(registration.expires_at)
    )


@router.post("/auth/register/code", status_code=204)
def register_code(body: RegisterCodeIn, request: Request, state: State) -> Response:
    """Send the registration code again, by SMS or voice."""
    identity_actions.send_registration_code(
        state=state,
        registration_id=body.registration_id,
        channel=body.channel,
        client=client_of(request),
    )
    return Response(status_code=204)


@router.post("/auth/register/verify", status_code=201, response_model=RegisterOut)
def register_verify(body: RegisterVerifyIn, request: Request, state: State) -> RegisterOut:
    """The code from the reserved mobile: the online-banking login is created."""
    code = reveal(state, body.code, field="code")
    user = identity_actions.finish_registration(
        state=state,
        registration_id=body.registration_id,
        code=code,
        client=client_of(request),
    )
    return RegisterOut(user_id=user.public_id, username=user.username, edition=user.edition)


def _login_out(outcome: LoginOutcome) -> LoginOut:
    if outcome.session is not None:
        return LoginOut(
            status="authenticated",
            token=outcome.session.token,
            expires_at=outcome.session.expires_at,
            user_id=outcome.user_public_id,
            edition=outcome.edition,
            device_credential=outcome.device_credential,
        )
    return LoginOut(
        status="challenge_required",
        challenge_id=outcome.challenge_id,
        reasons=list(outcome.reasons),
    )


@router.post("/auth/login", response_model=LoginOut)
def login(body: LoginIn, request: Request, state: State) -> LoginOut:
    """Password first. At night (00:00–06:00 Beijing time) or from a device that is not
    bound (no `X-Device-Credential`, or not the current one), the answer is a challenge to
    finish with a code. A bound device's login answers its next credential."""
    password = reveal(state, body.password, field="password")
    return _login_out(
        identity_actions.password_login(
            state=state,
            login=body.login,
            password=password,
            client=client_of(request),
            device_credential=device_credential_of(request),
        )
    )


@router.post("/auth/login/code", status_code=204)
def login_code(body: ChallengeCodeIn, request: Request, state: State) -> Response:
    """Send the login code by SMS or voice to the phone registered with the bank."""
    identity_actions.send_login_code(
        state=state,
        challenge_id=body.challenge_id,
        channel=body.channel,
        client=client_of(request),
    )
    return Response(status_code=204)


@router.post("/auth/login/verify", response_model=LoginOut)
def login_verify(body: ChallengeVerifyIn, request: Request, state: State) -> LoginOut:
    """The code (and, for a new device, the ID number, which binds the device: the answer
    carries its first `device_credential`)."""
    clear = reveal_many(state, {"code": body.code, "id_number": body.id_number})
    return _login_out(
        identity_actions.verify_login_code(
            state=state,
            challenge_id=body.challenge_id,
            code=clear["code"] or "",
            id_number=clear["id_number"] or None,
            client=client_of(request),
        )
    )


@router.post("/auth/logout", status_code=204)
def logout(request: Request, user: ApiUser, state: State) -> Response:
    now = state.clock.now()
    token = request.state.session_token
    run_write(state.db, lambda s: identity.end_session(s, token=token, at=now))
    return Response(status_code=204)


@router.post("/auth/password", status_code=204)
def change_password(
    body: ChangePasswordIn, request: Request, user: ApiUser, state: State
) -> Response:
    clear = reveal_many(
        state,
        {"old_password": body.old_password, "new_password": body.new_password},
        session_token=request.state.session_token,  # only this session's channels
    )
    identity_actions.change_password(
        state=state,
        user=user,
        old_password=clear["old_password"] or "",
        new_password=clear["new_password"] or "",
        client=client_of(request),
    )
    return Response(status_code=204)


@router.post("/auth/password/reset", response_model=ResetStartOut)
def reset_start(body: ResetStartIn, request: Request, state: State) -> ResetStartOut:
    """Forgot password: ID number and debit card, then a code to the registered phone."""
    clear = reveal_many(state, {"id_number": body.id_number, "card_number": body.card_number})
    challenge_id = identity_actions.start_password_reset(
        state=state,
        id_number=clear["id_number"] or "",
        card_number=clear["card_number"] or "",
        channel=body.channel,
        client=client_of(request),
    )
    return ResetStartOut(challenge_id=challenge_id)


@router.post("/auth/password/reset/finish", status_code=204)
def reset_finish(body: ResetFinishIn, request: Request, state: State) -> Response:
    """The code and a new password; every session of the customer ends."""
    clear = reveal_many(state, {"code": body.code, "new_password": body.new_password})
    identity_actions.reset_password(
        state=state,
        challenge_id=body.challenge_id,
        code=clear["code"] or "",
        new_password=clear["new_password"] or "",
        client=client_of(request),
    )
    return Response(status_code=204)


@router.get("/me", response_model=MeOut)
def me(user: ApiUser) -> MeOut:
    return MeOut(
        user_id=user.user_public_id,
        customer_id=user.customer_public_id,
        username=user.username,
        name=user.name,
        edition=user.edition,
        freeze=user.freeze,
    )
