"""What every back-office route needs: the staff member behind the request, allowed by
their role for this route (permissions.ROUTES), and for cookie forms the CSRF token.

The API takes only a bearer token, the pages only the `wy_admin` cookie (Path=/admin,
SameSite=Strict, HttpOnly): a customer's session (`wy_session`, or a customer bearer
token, which names no staff session) opens nothing here, and the staff cookie is never
sent to the customer site."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from wangyin.backoffice import permissions
from wangyin.backoffice import service as backoffice
from wangyin.backoffice.service import CurrentStaff
from wangyin.errors import DomainError
from wangyin.uow import run_read, run_write
from wangyin.web.context import SAFE_METHODS, State, bearer_token

STAFF_COOKIE = "wy_admin"
STAFF_COOKIE_PATH = "/admin"


class StaffLoginRequired(Exception):
    """A back-office page without a staff session: the handler sends the sign-in page."""


class StaffPageRefused(Exception):
    """A refusal on a back-office page: shown in the back office's own layout (routes)."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(error.code)
        self.error = error


def _resolve(state: State, token: str) -> CurrentStaff | None:
    now = state.clock.now()
    staff = run_read(
        state.db,
        lambda s: backoffice.resolve_session(s, token=token, at=now, settings=state.settings),
    )
    if staff is not None and staff.touch_due:
        run_write(
            state.db, lambda s: backoffice.touch_session(s, session_id=staff.session_id, at=now)
        )
    return staff


def required_permission(request: Request) -> str | None:
    route = request.scope.get("route")
    method = "GET" if request.method == "HEAD" else request.method
    path = getattr(route, "path", "")
    return permissions.permission_of(method, path, dict(request.path_params))


async def staff_user(request: Request, state: State) -> CurrentStaff:
    """The signed-in staff member, allowed for this route; refuses otherwise."""
    is_api = request.url.path.startswith("/api/")
    token = bearer_token(request) if is_api else request.cookies.get(STAFF_COOKIE)
    staff = await run_in_threadpool(_resolve, state, token) if token else None
    if staff is None:
        if is_api:
            raise DomainError("staff_not_authenticated")
        raise StaffLoginRequired()
    request.state.staff = staff  # a refusal page still shows who is signed in
    if not is_api and request.method not in SAFE_METHODS:
        form = await request.form()  # cached: the route reads it again
        sent = form.get("csrf_token")
        if not isinstance(sent, str) or not secrets.compare_digest(sent, staff.csrf_token):
            raise StaffPageRefused(DomainError("csrf_failed"))
    if not permissions.allowed(staff.role, required_permission(request)):
        error = DomainError("staff_forbidden")
        raise error if is_api else StaffPageRefused(error)
    return staff


Staff = Annotated[CurrentStaff, Depends(staff_user)]
