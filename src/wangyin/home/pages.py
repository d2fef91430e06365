"""The home page customers land on after login (issue 9 §2), the hide-amounts eye (a form
that works without script; home.js enhances it) and the page that pins and orders the
quick functions (5.2.2-d), all buttons, keyboard-usable."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from wangyin.errors import DomainError
from wangyin.home import actions, preferences
from wangyin.identity.service import CurrentUser
from wangyin.uow import run_read
from wangyin.web.context import PageUser, State, check_form_csrf
from wangyin.web.forms import error_text, form_data
from wangyin.web.render import environment, render

router = APIRouter()
# The pages whose amounts the eye hides (and where it is shown).
EYE_PAGES = ("/home", "/accounts")


def amounts_hidden(request: Request, user: CurrentUser | None) -> bool:
    """base.html asks this on the pages with the eye: the customer's saved choice."""
    if user is None:
        return False
    state = request.app.state.wangyin
    return run_read(
        state.db, lambda s: preferences.read(s, customer_id=user.customer_id).amounts_hidden
    )


def install() -> None:
    """Lets base.html show the eye (`amounts_hidden(request, user)`, `eye_pages`)."""
    environment().globals["amounts_hidden"] = amounts_hidden
    environment().globals["eye_pages"] = EYE_PAGES


@router.get("/home")
def home(request: Request, user: PageUser, state: State) -> Response:
    data = actions.home(state=state, user=user)
    return render(
        request,
        "home/home.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "home": data,
            "quick": preferences.entries(data.prefs.quick),
        },
    )


@router.post("/home/amounts")
async def switch_amounts(request: Request, user: PageUser, state: State) -> Response:
    form = await form_data(request)
    check_form_csrf(request, str(form.get("csrf_token", "")), user)
    actions.set_amounts_hidden(state=state, user=user, hidden=form.get("hidden") == "1")
    back = str(form.get("next", ""))
    return RedirectResponse(back if back in EYE_PAGES else "/home", status_code=303)


def _quick_page(
    request: Request, user: CurrentUser, prefs: preferences.Preferences, error: str = ""
) -> Response:
    pinned = preferences.entries(prefs.quick)
    return render(
        request,
        "home/quick.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "pinned": pinned,
            "others": [e for e in preferences.pinnable() if e not in pinned],
            "full": len(pinned) >= preferences.QUICK_MAX,
            "max": preferences.QUICK_MAX,
            "error": error,
        },
        status=422 if error else 200,
    )


@router.get("/home/quick")
def quick_page(request: Request, user: PageUser, state: State) -> Response:
    return _quick_page(request, user, actions.get_preferences(state=state, user=user))


@router.post("/home/quick")
async def quick_change(request: Request, user: PageUser, state: State) -> Response:
    form = await form_data(request)
    check_form_csrf(request, str(form.get("csrf_token", "")), user)
    key, action = str(form.get("key", "")), str(form.get("action", ""))
    try:
        actions.move_quick_function(state=state, user=user, action=action, key=key)
    except DomainError as refusal:
        if refusal.code == "csrf_failed":
            raise
        prefs = actions.get_preferences(state=state, user=user)
        return _quick_page(request, user, prefs, error=error_text(request, refusal))
    # Back to the page, where home.js puts the focus on the same function's row again.
    query = urlencode({"moved": key, "did": action})
    return RedirectResponse(f"/home/quick?{query}", status_code=303)
