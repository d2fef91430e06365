"""JSON API: registration, login, logout, password change."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from wangyin.identity import service as identity
from wangyin.identity.schemas import (
    ChangePasswordIn,
    LoginIn,
    LoginOut,
    MeOut,
    RegisterIn,
    RegisterOut,
)
from wangyin.uow import run_write
from wangyin.web.context import ApiUser, State, client_ip

router = APIRouter(tags=["identity"])


@router.post("/auth/register", status_code=201, response_model=RegisterOut)
def register(body: RegisterIn, state: State) -> RegisterOut:
    now = state.clock.now()
    user = run_write(
        state.db,
        lambda s: identity.register(s, **body.model_dump(), at=now),
    )
    return RegisterOut(user_id=user.public_id, username=user.username, edition=user.edition)


@router.post("/auth/login", response_model=LoginOut)
def login(body: LoginIn, request: Request, state: State) -> LoginOut:
    now = state.clock.now()

    def action(s):  # type: ignore[no-untyped-def]
        user = identity.authenticate(s, login=body.login, password=body.password)
        started = identity.start_session(
            s,
            user=user,
            client_type="api",
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
            at=now,
            settings=state.settings,
        )
        return user.public_id, user.edition, started

    user_id, edition, started = run_write(state.db, action)
    return LoginOut(
        token=started.token, expires_at=started.expires_at, user_id=user_id, edition=edition
    )


@router.post("/auth/logout", status_code=204)
def logout(request: Request, user: ApiUser, state: State) -> Response:
    now = state.clock.now()
    token = request.state.session_token
    run_write(state.db, lambda s: identity.end_session(s, token=token, at=now))
    return Response(status_code=204)


@router.post("/auth/password", status_code=204)
def change_password(body: ChangePasswordIn, user: ApiUser, state: State) -> Response:
    now = state.clock.now()
    run_write(
        state.db,
        lambda s: identity.change_password(
            s,
            user_id=user.user_id,
            old_password=body.old_password,
            new_password=body.new_password,
            keep_session_id=user.session_id,
            at=now,
        ),
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
    )
