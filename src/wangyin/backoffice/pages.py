"""The back office's pages under /admin (thin: parse, authorize, one action), and the
customer's page to finish a counter-approved transaction-password reset (/pin-reset)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from wangyin.backoffice import permissions, pin_reset
from wangyin.backoffice import service as backoffice
from wangyin.backoffice.api import commands_out, limit_sign_in
from wangyin.backoffice.context import STAFF_COOKIE, STAFF_COOKIE_PATH, Staff
from wangyin.backoffice.service import CurrentStaff, SignIn
from wangyin.errors import DomainError
from wangyin.runtime import AppState
from wangyin.uow import run_read, run_write
from wangyin.web.context import State, app_state, check_form_csrf, client_of
from wangyin.web.forms import anonymous_csrf, error_text, form_data, set_anonymous_csrf
from wangyin.web.render import render

router = APIRouter(prefix="/admin")
customer_router = APIRouter()

# What each kind's form asks besides the reason (payload fields).
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "upgrade_professional": ("confirmation",),
    "freeze": ("scope",),
    "set_limits": ("single", "daily"),
    # Not `id_number`: that name is a sealed field of the customer site (web.forms).
    "reset_pin": ("presented_id_number",),
}


def _page(
    request: Request, template: str, staff: CurrentStaff | None, **context: Any
) -> Response:
    values: dict[str, Any] = {"staff": staff, "kinds": permissions.KINDS}
    if staff is not None:
        values["csrf_token"] = staff.csrf_token
        values["can"] = lambda permission: permissions.allowed(staff.role, permission)
    values.update(context)
    return render(request, template, values, status=int(context.pop("status", 200)))


def refused(request: Request, error: DomainError) -> Response:
    """A refusal in the back office's layout, in the staff member's language."""
    staff = getattr(request.state, "staff", None)
    return _page(
        request, "backoffice/error.html", staff, message=error_text(request, error),
        code=error.code, status=error.status,
    )


def _anonymous(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    token = anonymous_csrf(request)
    response = render(request, template, {"csrf_token": token, "staff": None, **context},
                      status=status)
    set_anonymous_csrf(request, response, token)
    return response


def _signed_in(request: Request, result: SignIn) -> Response:
    if result.token is None:
        return _anonymous(
            request,
            "backoffice/enrol.html",
            enrolment_token=result.enrolment_token,
            secret=result.totp_secret,
            uri=result.otpauth_uri,
        )
    response = RedirectResponse("/admin", status_code=303)
    response.set_cookie(
        STAFF_COOKIE,
        result.token,
        httponly=True,
        samesite="strict",
        secure=app_state(request).settings.secure_cookies,
        path=STAFF_COOKIE_PATH,
    )
    return response


@router.get("/login")
def login_page(request: Request) -> Response:
    return _anonymous(request, "backoffice/login.html")


def _sign_in(state: AppState, request: Request, form: dict[str, str]) -> SignIn:
    limit_sign_in(state, request)
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: backoffice.sign_in(
            s, username=form.get("username", ""), password=form.get("staff_password", ""),
            code=form.get("totp_code", ""), client=client_of(request, "admin"), at=now,
            settings=state.settings,
        ),
    )


@router.post("/login")
async def login_submit(request: Request, state: State) -> Response:
    form = await form_data(request)
    try:
        check_form_csrf(request, form.get("csrf_token", ""), None)
        result = await run_in_threadpool(_sign_in, state, request, form)
    except DomainError as exc:
        return _anonymous(
            request, "backoffice/login.html", status=exc.status, error=error_text(request, exc),
            username=form.get("username", "")[:32],
        )
    return _signed_in(request, result)


def _enrol(state: AppState, request: Request, form: dict[str, str]) -> SignIn:
    limit_sign_in(state, request)
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: backoffice.finish_enrolment(
            s, enrolment_token=form.get("enrolment_token", ""), code=form.get("totp_code", ""),
            new_password=form.get("new_staff_password", ""), client=client_of(request, "admin"),
            at=now, settings=state.settings,
        ),
    )


@router.post("/enrol")
async def enrol_submit(request: Request, state: State) -> Response:
    form = await form_data(request)
    try:
        check_form_csrf(request, form.get("csrf_token", ""), None)
        result = await run_in_threadpool(_enrol, state, request, form)
    except DomainError as exc:
        return _anonymous(
            request, "backoffice/login.html", status=exc.status, error=error_text(request, exc)
        )
    return _signed_in(request, result)


@router.post("/logout")
def logout(staff: Staff, request: Request, state: State) -> Response:
    now = state.clock.now()
    run_write(
        state.db,
        lambda s: backoffice.sign_out(s, staff=staff, client=client_of(request, "admin"), at=now),
    )
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(STAFF_COOKIE, path=STAFF_COOKIE_PATH)
    return response


@router.get("")
def home(staff: Staff, request: Request, state: State) -> Response:
    pending = []
    if permissions.allowed(staff.role, "command.view"):
        pending = run_read(
            state.db,
            lambda s: commands_out(s, backoffice.list_commands(s, status="PENDING")),
        )
    return _page(
        request, "backoffice/home.html", staff, pending=pending,
        notice=request.query_params.get("notice", ""), by_options=backoffice.SEARCH_BY,
    )


@router.get("/customers")
def search(staff: Staff, request: Request, state: State, by: str = "", q: str = "") -> Response:
    now = state.clock.now()
    try:
        found = run_write(
            state.db,
            lambda s: backoffice.find_customers(
                s, by=by, query=q, staff=staff, client=client_of(request, "admin"), at=now
            ),
        )
    except DomainError as exc:
        return refused(request, exc)
    if len(found) == 1:
        return RedirectResponse(f"/admin/customers/{found[0].public_id}", status_code=303)
    return _page(
        request, "backoffice/home.html", staff, pending=[], by_options=backoffice.SEARCH_BY,
        notice="", not_found=True, status=404,
    )


def _profile_page(
    request: Request, state: AppState, staff: CurrentStaff, customer_id: str,
    reason: str | None, notice: str = "",
) -> Response:
    now = state.clock.now()

    def action(s: Any) -> tuple[backoffice.Profile, list[Any]]:
        found = backoffice.profile(
            s, customer_id=customer_id, staff=staff, client=client_of(request, "admin"),
            at=now, settings=state.settings, reveal_reason=reason,
        )
        return found, commands_out(s, found.commands)

    try:
        found, commands = run_write(state.db, action)
    except DomainError as exc:
        return refused(request, exc)
    return _page(
        request, "backoffice/customer.html", staff, profile=found, commands=commands,
        kind_fields=KIND_FIELDS, notice=notice,
    )


@router.get("/customers/{customer_id}")
def customer(customer_id: str, staff: Staff, request: Request, state: State) -> Response:
    return _profile_page(
        request, state, staff, customer_id, None, request.query_params.get("notice", "")
    )


@router.post("/customers/{customer_id}/reveal")
async def reveal(customer_id: str, staff: Staff, request: Request, state: State) -> Response:
    form = await form_data(request)
    return await run_in_threadpool(
        _profile_page, request, state, staff, customer_id, form.get("reason", "")
    )


@router.post("/customers/{customer_id}/commands/{kind}")
async def propose(
    customer_id: str, kind: str, staff: Staff, request: Request, state: State
) -> Response:
    form = await form_data(request)
    payload = {field: form.get(field, "") for field in KIND_FIELDS.get(kind, ())}
    now = state.clock.now()
    try:
        command = await run_in_threadpool(
            run_write,
            state.db,
            lambda s: backoffice.propose(
                s, customer_id=customer_id, kind=kind, payload=payload,
                reason=form.get("reason", ""), staff=staff, client=client_of(request, "admin"),
                at=now, settings=state.settings,
            ),
        )
    except DomainError as exc:
        return refused(request, exc)
    return RedirectResponse(
        f"/admin/customers/{customer_id}?notice={command.status.lower()}", status_code=303
    )


@router.get("/commands")
def commands(staff: Staff, request: Request, state: State) -> Response:
    listed = run_read(state.db, lambda s: commands_out(s, backoffice.list_commands(s)))
    return _page(request, "backoffice/commands.html", staff, commands=listed,
                 notice=request.query_params.get("notice", ""))


async def _decide(request: Request, state: AppState, staff: CurrentStaff, command_id: str,
                  approve: bool) -> Response:
    form = await form_data(request)
    now = state.clock.now()
    client = client_of(request, "admin")

    def action(s: Any) -> None:
        if approve:
            backoffice.approve(s, command_id=command_id, reason=form.get("reason", ""),
                               staff=staff, client=client, at=now, settings=state.settings)
        else:
            backoffice.reject(s, command_id=command_id, reason=form.get("reason", ""),
                              staff=staff, client=client, at=now)

    try:
        await run_in_threadpool(run_write, state.db, action)
    except DomainError as exc:
        return refused(request, exc)
    notice = "executed" if approve else "rejected"
    return RedirectResponse(f"/admin/commands?notice={notice}", status_code=303)


@router.post("/commands/{command_id}/approve")
async def approve(command_id: str, staff: Staff, request: Request, state: State) -> Response:
    return await _decide(request, state, staff, command_id, approve=True)


@router.post("/commands/{command_id}/reject")
async def reject(command_id: str, staff: Staff, request: Request, state: State) -> Response:
    return await _decide(request, state, staff, command_id, approve=False)


@router.get("/staff")
def staff_page(staff: Staff, request: Request, state: State) -> Response:
    members = run_read(state.db, backoffice.list_staff)
    return _page(request, "backoffice/staff.html", staff, members=members,
                 roles=permissions.ROLES)


@router.post("/staff")
async def staff_create(staff: Staff, request: Request, state: State) -> Response:
    form = await form_data(request)
    now = state.clock.now()
    role = form.get("role", "")
    try:
        if role not in permissions.ROLES or not form.get("username", "").strip():
            raise DomainError("validation_error")
        made = await run_in_threadpool(
            run_write,
            state.db,
            lambda s: backoffice.create_staff(
                s, username=form.get("username", "")[:32], name=form.get("name", "")[:100],
                role=role, by=staff, client=client_of(request, "admin"), at=now,
            ),
        )
    except DomainError as exc:
        return refused(request, exc)
    members = await run_in_threadpool(run_read, state.db, backoffice.list_staff)
    return _page(request, "backoffice/staff.html", staff, members=members,
                 roles=permissions.ROLES, made=made)


# --- the customer's page: finish a counter-approved PIN reset --------------------------


@customer_router.get("/pin-reset")
def pin_reset_page(request: Request) -> Response:
    return _anonymous(request, "backoffice/pin_reset.html")


def _finish(state: AppState, request: Request, form: dict[str, str]) -> None:
    limit_sign_in(state, request, "reset")
    if form.get("new_pin", "") != form.get("new_pin_again", ""):
        raise DomainError("validation_error")
    now = state.clock.now()
    run_write(
        state.db,
        lambda s: pin_reset.finish(
            s, login=form.get("login", ""), code=form.get("code", ""),
            new_pin=form.get("new_pin", ""), client=client_of(request, "web"), at=now,
        ),
    )


@customer_router.post("/pin-reset")
async def pin_reset_submit(request: Request, state: State) -> Response:
    form = await form_data(request)
    try:
        check_form_csrf(request, form.get("csrf_token", ""), None)
        await run_in_threadpool(_finish, state, request, form)
    except DomainError as exc:
        return _anonymous(request, "backoffice/pin_reset.html", status=exc.status,
                          error=error_text(request, exc), login=form.get("login", "")[:40])
    return _anonymous(request, "backoffice/pin_reset.html", done=True)
