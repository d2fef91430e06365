"""Helpers shared by the HTML pages: cookies, CSRF, and turning errors into plain words."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from wangyin.errors import DomainError
from wangyin.i18n import gettext
from wangyin.identity.service import CurrentUser
from wangyin.ids import new_token
from wangyin.security.channel import Sealed, reveal_many
from wangyin.text import Envelope, has_bidi_control, has_control
from wangyin.web.context import ANON_CSRF_COOKIE, SESSION_COOKIE, app_state, check_form_csrf


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


# Form fields that arrive as encrypted-field envelopes (static/channel.js seals them on
# submit; the soft keyboard sends positions for the transaction passwords).
SEALED_FORM_FIELDS = frozenset(
    {
        "password",
        "password_again",
        "old_password",
        "new_password",
        "new_password_again",
        "transaction_password",
        "old_pin",
        "new_pin",
        "new_pin_again",
        "code",
        "id_number",
        "card_number",
    }
)


def _sealed_value(text: str) -> Sealed:
    """A JSON envelope as sent by channel.js, or the plain text (refused in "required"
    mode by `reveal_many`)."""
    if not text.startswith("{"):
        return text
    try:
        return Envelope.model_validate_json(text)
    except ValidationError:
        raise DomainError("channel_invalid") from None


# Form fields holding names and remarks, which other people read: no bidi controls
# either (the same rule as `wangyin.text.NameText` in the API schemas).
NAME_FORM_FIELDS = frozenset({"name", "payee_name", "remark"})


def _refuse_unsafe_text(data: dict[str, str]) -> None:
    """No control characters in any field, no bidi controls in names (issue 11 #11)."""
    for key, value in data.items():
        if has_control(key) or has_control(value):
            raise DomainError("validation_error")
        if key in NAME_FORM_FIELDS and has_bidi_control(value):
            raise DomainError("validation_error")


def _behind_login(path: str) -> bool:
    return path == "/password" or path.startswith(("/security", "/transfer"))


async def form_data(request: Request) -> dict[str, Any]:
    """The submitted form, with sensitive fields decrypted (4.1.2.2-b); a field with a
    control character (or a name with a bidi control) refuses the whole form."""
    form = await request.form()
    data = {key: value if isinstance(value, str) else "" for key, value in form.items()}
    _refuse_unsafe_text(data)
    sealed = {key: _sealed_value(data[key]) for key in SEALED_FORM_FIELDS & data.keys()}
    if sealed:
        state = app_state(request)
        # Behind login, only the session's own channels open (4.1.2.2-b, issue 11 #14);
        # before it (login, registration, a forgotten password) there is no session yet.
        session_token = (
            request.cookies.get(SESSION_COOKIE) if _behind_login(request.url.path) else None
        )
        clear = await run_in_threadpool(
            partial(reveal_many, session_token=session_token or None), state, sealed
        )
        opened = {key: value or "" for key, value in clear.items()}
        _refuse_unsafe_text(opened)
        data.update(opened)
    return data


# --- errors that name their field (the GOV.UK pattern, issue 9) --------------------------
# A page shows `errors` - field id -> message, "" for the form as a whole - as a summary
# at the top linking to each field and the message beside the field
# (templates/_errors.html).


def field_errors(
    request: Request, error: DomainError, fields: dict[str, str] | None = None
) -> dict[str, str]:
    """A refusal under the field it is about: `fields` maps error codes to the form's
    field ids; any other refusal is about the form as a whole."""
    return {(fields or {}).get(error.code, ""): error_text(request, error)}


def missing_fields(request: Request, form: dict[str, str], asks: dict[str, str]) -> dict[str, str]:
    """field id -> "Enter ..." for every required field left empty (`asks`: field id ->
    the English message)."""
    lang = getattr(request.state, "lang", "zh")
    return {key: gettext(ask, lang) for key, ask in asks.items() if not form.get(key, "").strip()}


class FormErrors(Exception):
    """The page's own checks refused the form before any service ran."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


def check(errors: dict[str, str]) -> None:
    if errors:
        raise FormErrors(errors)


async def send_code_form(
    request: Request,
    user: CurrentUser,
    *,
    send: Callable[[str], None],
    not_found: str,
    refused: Callable[[DomainError], Response],
    sent_to: str,
) -> Response:
    """A confirmation page's "send me a code" button (a transfer, an inter-bank transfer, a
    schedule, a batch): SMS or voice, the form's CSRF checked, `send(channel)` run off the
    event loop; a refusal is shown on the page (`refused`), a missing instruction is the
    not-found page (raised), a sent code goes back to `sent_to` with `sent=<channel>`."""
    form = await form_data(request)
    channel = "voice" if form.get("channel") == "voice" else "sms"
    try:
        check_form_csrf(request, form.get("csrf_token", ""), user)
        await run_in_threadpool(send, channel)
    except DomainError as exc:
        if exc.code == not_found:
            raise
        return refused(exc)
    return RedirectResponse(f"{sent_to}?sent={channel}", status_code=303)
