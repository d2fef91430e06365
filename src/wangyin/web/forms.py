"""Helpers shared by the HTML pages: cookies, CSRF, and turning errors into plain words."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from wangyin.errors import DomainError
from wangyin.i18n import gettext
from wangyin.ids import new_token
from wangyin.web.context import ANON_CSRF_COOKIE, SESSION_COOKIE, app_state


def error_text(request: Request, error: DomainError) -> str:
    return gettext(error.template, getattr(request.state, "lang", "zh"), **error.params)


def anonymous_csrf(request: Request) -> str:
    """Double-submit token for forms shown before login (login, register)."""
    return request.cookies.get(ANON_CSRF_COOKIE) or new_token()


def set_anonymous_csrf(request: Request, response: Response, token: str) -> None:
    if request.cookies.get(ANON_CSRF_COOKIE) != token:
        response.set_cookie(
            ANON_CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=app_state(request).settings.secure_cookies,
            path="/",
        )


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=app_state(request).settings.secure_cookies,
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


async def form_data(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {key: value if isinstance(value, str) else "" for key, value in form.items()}
