"""HTML pages: home/login, registration, logout, change password."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from wangyin.errors import DomainError
from wangyin.identity import service as identity
from wangyin.uow import run_write
from wangyin.web.context import (
    SESSION_COOKIE,
    PageUser,
    State,
    _resolve,
    check_form_csrf,
    client_ip,
)
from wangyin.web.forms import (
    anonymous_csrf,
    clear_session_cookie,
    error_text,
    form_data,
    set_anonymous_csrf,
    set_session_cookie,
)
from wangyin.web.render import render

router = APIRouter()

REGISTER_FIELDS = ("name", "id_number", "mobile", "card_number", "username")


def _anonymous_page(
    request: Request, template: str, values: dict[str, str], error: str = "", status: int = 200
) -> Response:
    token = anonymous_csrf(request)
    response = render(
        request, template, {"values": values, "error": error, "csrf_token": token}, status=status
    )
    set_anonymous_csrf(request, response, token)
    return response


@router.get("/")
def home(request: Request, state: State) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token and _resolve(state, token):
        return RedirectResponse("/accounts", status_code=303)
    return _anonymous_page(request, "identity/login.html", {})


@router.get("/login")
def login_page(request: Request) -> Response:
    return _anonymous_page(request, "identity/login.html", {})


@router.post("/login")
async def login_submit(request: Request, state: State) -> Response:
    form = await form_data(request)
    values = {"login": form.get("login", "")[:40]}
    try:
        check_form_csrf(request, form.get("csrf_token", ""), None)
        now = state.clock.now()

        def action(s):  # type: ignore[no-untyped-def]
            user = identity.authenticate(
                s, login=form.get("login", ""), password=form.get("password", "")
            )
            return identity.start_session(
                s,
                user=user,
                client_type="web",
                ip=client_ip(request),
                user_agent=request.headers.get("user-agent", ""),
                at=now,
                settings=state.settings,
            )

        started = run_write(state.db, action)
    except DomainError as exc:
        return _anonymous_page(
            request, "identity/login.html", values, error_text(request, exc), exc.status
        )
    response = RedirectResponse("/accounts", status_code=303)
    set_session_cookie(request, response, started.token)
    return response


@router.get("/register")
def register_page(request: Request) -> Response:
    return _anonymous_page(request, "identity/register.html", {})


@router.post("/register")
async def register_submit(request: Request, state: State) -> Response:
    form = await form_data(request)
    values = {key: form.get(key, "")[:40] for key in REGISTER_FIELDS}
    try:
        check_form_csrf(request, form.get("csrf_token", ""), None)
        if form.get("password", "") != form.get("password_again", ""):
            raise DomainError("validation_error")
        if not all(form.get(key) for key in (*REGISTER_FIELDS, "password")):
            raise DomainError("validation_error")
        now = state.clock.now()
        user = run_write(
            state.db,
            lambda s: identity.register(
                s,
                name=form["name"],
                id_number=form["id_number"],
                mobile=form["mobile"],
                card_number=form["card_number"],
                username=form["username"],
                password=form["password"],
                at=now,
            ),
        )
    except DomainError as exc:
        return _anonymous_page(
            request, "identity/register.html", values, error_text(request, exc), exc.status
        )
    return render(request, "identity/registered.html", {"username": user.username})


@router.post("/logout")
async def logout(request: Request, user: PageUser, state: State) -> Response:
    form = await form_data(request)
    check_form_csrf(request, form.get("csrf_token", ""), user)
    now = state.clock.now()
    token = request.state.session_token
    run_write(state.db, lambda s: identity.end_session(s, token=token, at=now))
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response)
    return response


@router.get("/password")
def password_page(request: Request, user: PageUser) -> Response:
    return render(request, "identity/password.html", {"user": user, "csrf_token": user.csrf_token})


@router.post("/password")
async def password_submit(request: Request, user: PageUser, state: State) -> Response:
    form = await form_data(request)
    context = {"user": user, "csrf_token": user.csrf_token}
    try:
        check_form_csrf(request, form.get("csrf_token", ""), user)
        if form.get("new_password", "") != form.get("new_password_again", ""):
            raise DomainError("validation_error")
        now = state.clock.now()
        run_write(
            state.db,
            lambda s: identity.change_password(
                s,
                user_id=user.user_id,
                old_password=form.get("old_password", ""),
                new_password=form.get("new_password", ""),
                keep_session_id=user.session_id,
                at=now,
            ),
        )
    except DomainError as exc:
        return render(
            request,
            "identity/password.html",
            {**context, "error": error_text(request, exc)},
            status=exc.status,
        )
    return render(request, "identity/password.html", {**context, "done": True})
