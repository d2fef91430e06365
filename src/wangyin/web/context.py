"""What every route needs: settings, database, clock, the caller and their language."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from wangyin.clock import Clock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.identity import service as identity
from wangyin.identity.service import CurrentUser
from wangyin.uow import run_read, run_write

SESSION_COOKIE = "wy_session"
ANON_CSRF_COOKIE = "wy_csrf"
LANG_COOKIE = "lang"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass
class AppState:
    settings: Settings
    db: Database
    clock: Clock


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.wangyin
    return state


State = Annotated[AppState, Depends(app_state)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def _resolve(state: AppState, token: str) -> CurrentUser | None:
    now = state.clock.now()
    user = run_read(
        state.db,
        lambda s: identity.resolve_session(s, token=token, at=now, settings=state.settings),
    )
    if user is not None and user.touch_due:
        run_write(state.db, lambda s: identity.touch_session(s, session_id=user.session_id, at=now))
    return user


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def api_user(request: Request, state: State) -> CurrentUser:
    """API caller: a bearer token, or the web session cookie plus its CSRF header."""
    token = bearer_token(request)
    via_cookie = False
    if token is None:
        token = request.cookies.get(SESSION_COOKIE)
        via_cookie = True
    if not token:
        raise DomainError("not_authenticated")
    user = _resolve(state, token)
    if user is None:
        raise DomainError("not_authenticated")
    if via_cookie and request.method not in SAFE_METHODS:
        sent = request.headers.get("x-csrf-token", "")
        if not secrets.compare_digest(sent, user.csrf_token):
            raise DomainError("csrf_failed")
    request.state.session_token = token
    return user


ApiUser = Annotated[CurrentUser, Depends(api_user)]


class LoginRequired(Exception):
    """A page needs a logged-in customer; the handler redirects to the login page."""


def page_user(request: Request, state: State) -> CurrentUser:
    token = request.cookies.get(SESSION_COOKIE)
    user = _resolve(state, token) if token else None
    if user is None:
        raise LoginRequired()
    request.state.session_token = token
    return user


PageUser = Annotated[CurrentUser, Depends(page_user)]


def check_form_csrf(request: Request, sent: str, user: CurrentUser | None) -> None:
    """Cookie sessions: the form must carry the session's CSRF token (or, before login,
    the double-submit cookie's)."""
    expected = user.csrf_token if user else request.cookies.get(ANON_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(sent or "", expected):
        raise DomainError("csrf_failed")


def lang(request: Request) -> str:
    value: str = getattr(request.state, "lang", "zh")
    return value
