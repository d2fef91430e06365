"""HTML pages: home/login (with its code step), registration, forgotten password,
logout, change password."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from wangyin.clock import as_utc
from wangyin.errors import DomainError
from wangyin.i18n import gettext
from wangyin.identity import actions as identity_actions
from wangyin.identity import service as identity
from wangyin.identity.models import UserSession
from wangyin.identity.service import LoginOutcome
from wangyin.uow import run_read, run_write
from wangyin.web.context import (
    DEVICE_COOKIE,
    SESSION_COOKIE,
    AppState,
    PageUser,
    State,
    _resolve,
    app_state,
    check_form_csrf,
    client_of,
    device_credential_of,
    lang,
)
from wangyin.web.forms import (
    FormErrors,
    anonymous_csrf,
    check,
    clear_session_cookie,
    error_text,
    field_errors,
    form_data,
    missing_fields,
    set_anonymous_csrf,
    set_session_cookie,
)
from wangyin.web.render import render

router = APIRouter()

REGISTER_FIELDS = ("name", "id_number", "mobile", "card_number", "username")
# Shown again after a refusal; the ID and card numbers are not echoed back (4.1.2.1-e).
ECHOED_REGISTER_FIELDS = ("name", "mobile", "username")
# Where each refusal is shown (the GOV.UK pattern, issue 9): the field it is about.
LOGIN_FIELDS = {"invalid_credentials": "login", "login_locked": "login"}
VERIFY_FIELDS = {
    "otp_invalid": "code",
    "otp_expired": "code",
    "otp_too_many_attempts": "code",
    "wrong_id_number": "id_number",
}
REGISTER_FIELDS_OF = {
    "invalid_id_number": "id_number",
    "invalid_mobile": "mobile",
    "invalid_card_number": "card_number",
    "card_not_found": "card_number",
    "already_registered": "id_number",
    "username_taken": "username",
    "invalid_username": "username",
    "weak_password": "password",
}
REGISTER_ASKS = {
    "name": "Enter your full name.",
    "id_number": "Enter your ID card number.",
    "mobile": "Enter the mobile number the bank holds for you.",
    "card_number": "Enter your debit card number.",
    "username": "Choose a login name.",
    "password": "Choose a password.",
    "password_again": "Enter the password again.",
    "transaction_password": "Choose a six-digit transaction password.",
}
PASSWORDS_DIFFER = "The two passwords do not match."
PASSWORD_FIELDS = {
    "wrong_password": "old_password",
    "weak_password": "new_password",
    "password_reused": "new_password",
    "password_in_history": "new_password",
}
RESET_FIELDS = {**VERIFY_FIELDS, **PASSWORD_FIELDS}
FORGOT_FIELDS = {
    "invalid_id_number": "id_number",
    "invalid_card_number": "card_number",
    "card_not_found": "card_number",
}
# Why the login page is shown to someone who had a session (issue 9, WCAG 2.2.1).
TIMED_OUT = "For your safety you were logged out after {minutes} minutes without activity."
ENDED = {
    "idle": TIMED_OUT,
    "expired": "For your safety a session lasts at most {hours} hours. Please log in again.",
    "ended": "Your session was ended elsewhere, for example by a password change. "
    "Please log in again.",
}
# The device cookie is replaced at every login; one that is never used again dies with
# the longest lifetime browsers keep a cookie (400 days).
DEVICE_COOKIE_DAYS = 400


def _anonymous_page(
    request: Request,
    template: str,
    values: dict[str, str],
    error: str | dict[str, str] = "",
    status: int = 200,
    **extra: object,
) -> Response:
    token = anonymous_csrf(request)
    errors = error if isinstance(error, dict) else ({"": error} if error else {})
    response = render(
        request,
        template,
        {"values": values, "errors": errors, "csrf_token": token, **extra},
        status=status,
    )
    set_anonymous_csrf(request, response, token)
    return response


def _after_login(request: Request, outcome: LoginOutcome) -> Response:
    if outcome.session is not None:
        # The customer lands on the home page (issue 9 §2), as in the bank apps they know.
        response = RedirectResponse("/home", status_code=303)
        set_session_cookie(request, response, outcome.session.token)
        if outcome.device_credential:
            # The browser's device credential (4.3.2-c, issue 11 #7): issued when it was
            # bound, replaced at every login; no script of any page can read it.
            response.set_cookie(
                DEVICE_COOKIE,
                outcome.device_credential,
                max_age=DEVICE_COOKIE_DAYS * 86400,
                httponly=True,
                samesite="strict",
                secure=app_state(request).settings.secure_cookies,
                path="/",
            )
        return response
    return RedirectResponse(f"/login/verify/{outcome.challenge_id}", status_code=303)


@router.get("/")
def home(request: Request, state: State) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token and _resolve(state, token):
        return RedirectResponse("/home", status_code=303)
    return _anonymous_page(request, "identity/login.html", {})


def _why_ended(session: Session, *, token: str, state: AppState) -> str:
    """Why the session of this cookie ended: "idle", "expired", "ended" (logged out
    elsewhere, a password change or reset), or "" (no such session)."""
    row = session.execute(
        select(UserSession.ended_at, UserSession.expires_at).where(
            UserSession.token_hash == identity.token_hash(token)
        )
    ).first()
    if row is None:
        return ""
    if row.ended_at is not None:
        return "ended"
    return "expired" if state.clock.now() >= as_utc(row.expires_at) else "idle"


@router.get("/login")
def login_page(request: Request, state: State) -> Response:
    """The login page says why a customer was logged out: the page's timeout (app.js
    sends ?timeout=1), or a session cookie whose session has ended meanwhile."""
    token = request.cookies.get(SESSION_COOKIE)
    ended = bool(token) and _resolve(state, token or "") is None
    why = "idle" if request.query_params.get("timeout") == "1" else ""
    if ended:
        why = run_read(state.db, lambda s: _why_ended(s, token=token or "", state=state))
    notice = ""
    if why:
        settings = state.settings
        notice = gettext(
            ENDED[why],
            lang(request),
            minutes=settings.session_idle_minutes,
            hours=settings.session_absolute_hours,
        )
    response = _anonymous_page(request, "identity/login.html", {}, notice=notice)
    if ended:
        clear_session_cookie(response)
    return response


@router.post("/login")
async def login_submit(request: Request, state: State) -> Response:
    form = await form_data(request)
    values = {"login": form.get("login", "")[:40]}
    try:
        check_form_csrf(request, form.get("csrf_token", ""), None)
        outcome = identity_actions.password_login(
            state=state,
            login=form.get("login", ""),
            password=form.get("password", ""),
            client=client_of(request, "web"),
            device_credential=device_credential_of(request),
        )
    except DomainError as exc:
        return _anonymous_page(
            request,
            "identity/login.html",
            values,
            field_errors(request, exc, LOGIN_FIELDS),
            exc.status,
        )
    return _after_login(request, outcome)


def _verify_page(
    request: Request,
    challenge_id: str,
    error: str | dict[str, str] = "",
    status: int = 200,
    sent: str = "",
) -> Response:
    reasons = request.query_params.get("reasons", "")
    return _anonymous_page(
        request,
        "identity/verify.html",
        {},
        error,
        status,
        challenge_id=challenge_id,
        sent=sent,
        reasons=reasons,
    )


@router.get("/login/verify/{challenge_id}")
def verify_page(challenge_id: str, request: Request) -> Response:
    return _verify_page(request, challenge_id, sent=request.query_params.get("sent", ""))


@router.post("/login/verify/{challenge_id}/code")
async def verify_send_code(challenge_id: str, request: Request, state: State) -> Response:
    form = await form_data(request)
    channel = "voice" if form.get("channel") == "voice" else "sms"
    try:
        check_form_csrf(request, form.get("csrf_token", ""), None)
        identity_actions.send_login_code(
            state=state,
            challenge_id=challenge_id,
            channel=channel,
            client=client_of(request, "web"),
        )
    except DomainError as exc:
        return _verify_page(request, challenge_id, error_text(request, exc), exc.status)
    return RedirectResponse(f"/login/verify/{challenge_id}?sent={channel}", status_code=303)


@router.post("/login/verify/{challenge_id}")
async def verify_submit(challenge_id: str, request: Request, state: State) -> Response:
    form = await form_data(request)
    try:
        check_form_csrf(request, form.get("csrf_token", ""), None)
        outcome = identity_actions.verify_login_code(
            state=state,
            challenge_id=challenge_id,
            code=form.get("code", ""),
            id_number=form.get("id_number") or None,
            client=client_of(request, "web"),
        )
    except DomainError as exc:
        errors = field_errors(request, exc, VERIFY_FIELDS)
        return _verify_page(request, challenge_id, errors, exc.status)
    return _after_login(request, outcome)


@router.get("/register")
def register_page(request: Request) -> Response:
    return _anonymous_page(request, "identity/register.html", {})


@router.post("/register")
async def register_submit(request: Request, state: State) -> Response:
    """Step 1: check the applicant, text a code to the reserved mobile; no login yet."""
    form = await form_data(request)
    values = {key: form.get(key, "")[:40] for key in ECHOED_REGISTER_FIELDS}
    try:
        check_form_csrf(request, form.get("csrf_token", ""), None)
        errors = missing_fields(request, form, REGISTER_ASKS)
        if form.get("password_again") and form.get("password") != form.get("password_again"):
            errors["password_again"] = gettext(PASSWORDS_DIFFER, lang(request))
        check(errors)
        required = (*REGISTER_FIELDS, "password", "transaction_password")
        registration = identity_actions.start_registration(
            state=state,
            fields={key: form[key] for key in required}
            | {key: form.get(key) or None for key in ("occupation", "product_use")},
            channel="voice" if form.get("channel") == "voice" else "sms",
            client=client_of(request, "web"),
        )
    except FormErrors as exc:
        return _anonymous_page(request, "identity/register.html", values, exc.errors, 422)
    except DomainError as exc:
        errors = field_errors(request, exc, REGISTER_FIELDS_OF)
        return _anonymous_page(request, "identity/register.html", values, errors, exc.status)
    return RedirectResponse(f"/register/verify/{registration.public_id}", status_code=303)


def _register_verify_page(
    request: Request, registration_id: str, error: str = "", status: int = 200, sent: str = ""
) -> Response:
    return _anonymous_page(
        request,
        "identity/register_verify.html",
        {},
        error,
        status,
        registration_id=registration_id,
        sent=sent,
    )


@router.get("/register/verify/{registration_id}")
def register_verify_page(registration_id: str, request: Request) -> Response:
    return _register_verify_page(
        request, registration_id, sent=request.query_params.get("sent", "")
    )


@router.post("/register/verify/{registration_id}/code")
async def register_send_code(registration_id: str, request: Request, state: State) -> Response:
    form = await form_data(request)
    channel = "voice" if form.get("channel") == "voice" else "sms"
    try:
        check_form_csrf(request, form.get("csrf_token", ""), None)
        identity_actions.send_registration_code(
            state=state,
            registration_id=registration_id,
            channel=channel,
            client=client_of(request, "web"),
        )
    except DomainError as exc:
        return _register_verify_page(request, registration_id, error_text(request, exc), exc.status)
    return RedirectResponse(f"/register/verify/{registration_id}?sent={channel}", status_code=303)


@router.post("/register/verify/{registration_id}")
async def register_verify_submit(registration_id: str, request: Request, state: State) -> Response:
    """Step 2: the code from the reserved mobile creates the login."""
    form = await form_data(request)
    try:
        check_form_csrf(request, form.get("csrf_token", ""), None)
        user = identity_actions.finish_registration(
            state=state,
            registration_id=registration_id,
            code=form.get("code", ""),
            client=client_of(request, "web"),
        )
    except DomainError as exc:
        return _register_verify_page(request, registration_id, error_text(request, exc), exc.status)
    return render(request, "identity/registered.html", {"username": user.username})


@router.get("/password/forgot")
def forgot_page(request: Request) -> Response:
    return _anonymous_page(request, "identity/forgot.html", {})


@router.post("/password/forgot")
async def forgot_submit(request: Request, state: State) -> Response:
    form = await form_data(request)
    values: dict[str, str] = {}  # the ID number is not echoed back (4.1.2.1-e)
    try:
        check_form_csrf(request, form.get("csrf_token", ""), None)
        challenge_id = identity_actions.start_password_reset(
            state=state,
            id_number=form.get("id_number", ""),
            card_number=form.get("card_number", ""),
            channel="voice" if form.get("channel") == "voice" else "sms",
            client=client_of(request, "web"),
        )
    except DomainError as exc:
        errors = field_errors(request, exc, FORGOT_FIELDS)
        return _anonymous_page(request, "identity/forgot.html", values, errors, exc.status)
    return RedirectResponse(f"/password/reset/{challenge_id}", status_code=303)


@router.get("/password/reset/{challenge_id}")
def reset_page(challenge_id: str, request: Request) -> Response:
    return _anonymous_page(request, "identity/reset.html", {}, challenge_id=challenge_id)


@router.post("/password/reset/{challenge_id}")
async def reset_submit(challenge_id: str, request: Request, state: State) -> Response:
    form = await form_data(request)
    try:
        check_form_csrf(request, form.get("csrf_token", ""), None)
        if form.get("new_password", "") != form.get("new_password_again", ""):
            check({"new_password_again": gettext(PASSWORDS_DIFFER, lang(request))})
        identity_actions.reset_password(
            state=state,
            challenge_id=challenge_id,
            code=form.get("code", ""),
            new_password=form.get("new_password", ""),
            client=client_of(request, "web"),
        )
    except (DomainError, FormErrors) as exc:
        if isinstance(exc, FormErrors):
            errors, status = exc.errors, 422
        else:
            errors, status = field_errors(request, exc, RESET_FIELDS), exc.status
        return _anonymous_page(
            request, "identity/reset.html", {}, errors, status, challenge_id=challenge_id
        )
    return _anonymous_page(request, "identity/reset.html", {}, done=True, challenge_id="")


@router.post("/logout")
async def logout(request: Request, user: PageUser, state: State) -> Response:
    form = await form_data(request)
    check_form_csrf(request, form.get("csrf_token", ""), user)
    now = state.clock.now()
    token = request.state.session_token
    run_write(state.db, lambda s: identity.end_session(s, token=token, at=now))
    # The timeout warning's own logout: the login page says why.
    target = "/login?timeout=1" if form.get("reason") == "timeout" else "/login"
    response = RedirectResponse(target, status_code=303)
    clear_session_cookie(response)
    return response


@router.post("/security/keepalive")
def keepalive(request: Request, user: PageUser, state: State) -> Response:
    """ "Stay logged in" in the timeout warning (WCAG 2.2.1): the session's idle time
    starts again. A script's request, so it carries the CSRF token as a header. Under
    /security so that it works while everything is frozen, as that page does."""
    check_form_csrf(request, request.headers.get("x-csrf-token", ""), user)
    now = state.clock.now()
    run_write(state.db, lambda s: identity.touch_session(s, session_id=user.session_id, at=now))
    return JSONResponse({"seconds_left": state.settings.session_idle_minutes * 60})


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
            check({"new_password_again": gettext(PASSWORDS_DIFFER, lang(request))})
        identity_actions.change_password(
            state=state,
            user=user,
            old_password=form.get("old_password", ""),
            new_password=form.get("new_password", ""),
            client=client_of(request, "web"),
        )
    except FormErrors as exc:
        return render(request, "identity/password.html", {**context, "errors": exc.errors}, 422)
    except DomainError as exc:
        errors = field_errors(request, exc, PASSWORD_FIELDS)
        return render(
            request, "identity/password.html", {**context, "errors": errors}, status=exc.status
        )
    return render(request, "identity/password.html", {**context, "done": True})
