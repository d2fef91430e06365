"""What every route needs: settings, database, clock, the caller and their language."""

from __future__ import annotations

import re
import secrets
from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request

from wangyin.errors import DomainError
from wangyin.identity import devices
from wangyin.identity import service as identity
from wangyin.identity.service import Caller, CurrentUser
from wangyin.runtime import AppState as AppState  # re-exported for the routes
from wangyin.security.audit import Client
from wangyin.uow import run_read, run_write

SESSION_COOKIE = "wy_session"
# The bound browser's device credential (identity.devices): HttpOnly, set by the bank
# when the browser is bound and replaced at every login.
DEVICE_COOKIE = "wy_device"
# An app's device credential, as the login answered it (`device_credential`).
DEVICE_CREDENTIAL_HEADER = "x-device-credential"
ANON_CSRF_COOKIE = "wy_csrf"
LANG_COOKIE = "lang"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# A session's last use is written at most this often.
SESSION_TOUCH_SECONDS = int(identity._TOUCH_EVERY.total_seconds())


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.wangyin
    return state


async def _app_state_dependency(request: Request) -> AppState:
    # async: FastAPI runs a sync dependency in the thread pool, one more hop per request
    # for a plain attribute read.
    return app_state(request)


State = Annotated[AppState, Depends(_app_state_dependency)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


_OS_PATTERNS = (
    (re.compile(r"Windows NT ([\d.]+)"), "Windows NT {}"),
    (re.compile(r"Android ([\d.]+)"), "Android {}"),
    (re.compile(r"(?:iPhone|CPU) OS ([\d_]+)"), "iOS {}"),
    (re.compile(r"Mac OS X ([\d_.]+)"), "macOS {}"),
    (re.compile(r"HarmonyOS ([\d.]+)"), "HarmonyOS {}"),
    (re.compile(r"(Linux)"), "{}"),
)


def os_version_of(user_agent: str) -> str:
    for pattern, label in _OS_PATTERNS:
        found = pattern.search(user_agent)
        if found:
            return label.format(found.group(1).replace("_", "."))
    return ""


def device_credential_of(request: Request) -> str:
    """The device credential the caller presents: an app's X-Device-Credential header on
    the API, the browser's wy_device cookie on pages (never the other way round)."""
    if request.scope["path"].startswith("/api/"):
        return request.headers.get(DEVICE_CREDENTIAL_HEADER, "")
    return request.cookies.get(DEVICE_COOKIE, "")


# request.scope["path"], not request.url.path: the URL object is built and parsed anew for
# every request that asks for it (~0.1 ms on the money path).


def client_of(request: Request, client_type: str | None = None) -> Client:
    """Who is calling from where (4.3.2-a): apps send X-Device-Id (a name they give
    themselves) and X-Client-OS; the web has the user agent. The device is recorded as the
    name an app gives, else as the public id inside its device credential - never the
    credential itself (issue 11 #7); a login records the bound device it verified."""
    user_agent = request.headers.get("user-agent", "")[:300]
    if client_type is None:
        client_type = "api" if request.scope["path"].startswith("/api/") else "web"
    device = (
        (request.headers.get("x-device-id") if request.scope["path"].startswith("/api/") else None)
        or devices.public_id_of(device_credential_of(request))
        or ""
    )
    return Client(
        ip=client_ip(request),
        device_id=device[:80],
        client_type=client_type,
        os_version=(request.headers.get("x-client-os") or os_version_of(user_agent))[:80],
        user_agent=user_agent,
        language=lang(request),
    )


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


def session_token_of(request: Request) -> str:
    """The session token the caller presents: the bearer token, else the session cookie."""
    return bearer_token(request) or request.cookies.get(SESSION_COOKIE) or ""


def caller_of(request: Request, client_type: str | None = None) -> Caller:
    """Who claims to call, before any database work: the use case resolves the session
    inside its own transaction (one transaction per request, rule 10)."""
    token = bearer_token(request)
    via_cookie = token is None
    if via_cookie:
        token = request.cookies.get(SESSION_COOKIE)
    return Caller(
        token=token or "",
        via_cookie=via_cookie,
        csrf_sent=request.headers.get("x-csrf-token", ""),
        path=request.scope["path"],
        unsafe_method=request.method not in SAFE_METHODS,
        client=client_of(request, client_type),
    )


def api_user(request: Request, state: State) -> CurrentUser:
    """API caller: a bearer token, or the web session cookie plus its CSRF header."""
    caller = caller_of(request)
    user = _resolve(state, caller.token) if caller.token else None
    if user is None:
        raise DomainError("not_authenticated")
    identity.check_caller(user=user, caller=caller)
    request.state.session_token = caller.token
    return user


ApiUser = Annotated[CurrentUser, Depends(api_user)]


class LoginRequired(Exception):
    """A page needs a logged-in customer; the handler redirects to the login page."""


def page_user(request: Request, state: State) -> CurrentUser:
    token = request.cookies.get(SESSION_COOKIE)
    user = _resolve(state, token) if token else None
    if user is None:
        raise LoginRequired()
    # Form posts check their CSRF field themselves (check_form_csrf); here only the freeze.
    identity.check_caller(user=user, caller=replace(caller_of(request), unsafe_method=False))
    request.state.session_token = token
    # What the page's timeout warning counts down from (WCAG 2.2.1): the whole idle time
    # if this request renewed the session, else at least that less the renewal interval.
    idle = state.settings.session_idle_minutes * 60
    request.state.idle_minutes = state.settings.session_idle_minutes
    request.state.session_left = idle if user.touch_due else idle - SESSION_TOUCH_SECONDS
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
