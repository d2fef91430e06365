"""Pages: 全部功能 (every function and FAQ, with the search results) and the care-mode
switch, which works before login (a cookie) and after (the user's column as well)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from wangyin.clock import BANK_TZ
from wangyin.experience import service
from wangyin.experience.catalogue import BANK_PHONE, FUNCTIONS
from wangyin.identity.service import CurrentUser
from wangyin.uow import run_read, run_write
from wangyin.web.context import SESSION_COOKIE, State, _resolve, check_form_csrf
from wangyin.web.forms import anonymous_csrf, form_data, set_anonymous_csrf
from wangyin.web.render import environment, render

router = APIRouter()
CARE_COOKIE = "wy_care"
CARE_COOKIE_DAYS = 400


def care_on(request: Request, user: CurrentUser | None = None) -> bool:
    """The browser's choice (cookie) wins; without one, a signed-in customer's saved one."""
    chosen = request.cookies.get(CARE_COOKIE)
    if chosen in ("0", "1"):
        return chosen == "1"
    if user is None:
        return False
    state = request.app.state.wangyin
    return run_read(state.db, lambda s: service.care_mode(s, user_id=user.user_id))


def care_suggested(request: Request, user: CurrentUser | None) -> bool:
    """A customer aged 60 or more, not in care mode, is told about it beside the switch."""
    if user is None or care_on(request, user):
        return False
    state = request.app.state.wangyin
    today = state.clock.now().astimezone(BANK_TZ).date()
    return run_read(
        state.db, lambda s: service.suggest_care(s, customer_id=user.customer_id, today=today)
    )


def install() -> None:
    """Lets base.html ask `care_on(request)` and show the bank's phone number."""
    environment().globals["care_on"] = care_on
    environment().globals["care_suggested"] = care_suggested
    environment().globals["bank_phone"] = BANK_PHONE


def _safe_next(target: str) -> str:
    # Only a path on this site: never an open redirect.
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/functions")
def functions_page(request: Request, q: Annotated[str, Query(max_length=50)] = "") -> Response:
    hits = [hit.entry for hit in service.search(query=q)] if q else []
    return render(
        request,
        "experience/functions.html",
        {
            "query": q,
            "hits": hits,
            "functions": [e for e in FUNCTIONS if e.kind == "function"],
            "faqs": [e for e in FUNCTIONS if e.kind == "faq"],
        },
    )


@router.get("/care")
def care_page(request: Request, state: State) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    user = _resolve(state, token) if token else None
    context = {"care": care_on(request, user), "user": user}
    token = user.csrf_token if user else anonymous_csrf(request)
    response = render(request, "experience/care.html", {**context, "csrf_token": token})
    if user is None:
        set_anonymous_csrf(request, response, token)
    return response


@router.post("/care")
async def care_switch(request: Request, state: State) -> Response:
    form = await form_data(request)
    token = request.cookies.get(SESSION_COOKIE)
    user = _resolve(state, token) if token else None
    check_form_csrf(request, str(form.get("csrf_token", "")), user)
    on = form.get("care") == "1"
    if user is not None:
        uid = user.user_id
        run_write(state.db, lambda s: service.set_care_mode(s, user_id=uid, on=on))
    response = RedirectResponse(_safe_next(str(form.get("next", "/"))), status_code=303)
    response.set_cookie(
        CARE_COOKIE,
        "1" if on else "0",
        max_age=CARE_COOKIE_DAYS * 86400,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response
