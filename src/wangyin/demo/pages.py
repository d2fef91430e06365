"""The demo's pages (演示模式, 5.2.3-d): an intro reached from the login page, then home,
accounts, history and the transfer walk-through on sample data, each under a 演示 banner.
The confirm step answers a page that says no money moved; nothing is written."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from wangyin.clock import BANK_TZ
from wangyin.demo import actions, sample, service
from wangyin.demo.guard import DEMO_COOKIE, live_demo
from wangyin.errors import DomainError
from wangyin.web.context import State, check_form_csrf, client_ip
from wangyin.web.forms import (
    anonymous_csrf,
    error_text,
    field_errors,
    form_data,
    set_anonymous_csrf,
)
from wangyin.web.render import environment, render

router = APIRouter()

# Which form field each refusal of the transfer form is about.
_TRANSFER_FIELDS = {
    "payee_name_required": "payee_name",
    "payee_account_invalid": "to_account_number",
    "invalid_amount": "amount",
    "amount_not_positive": "amount",
    "amount_too_precise": "amount",
    "amount_too_large": "amount",
    "over_single_limit": "amount",
    "insufficient_funds": "amount",
}
_FORM_KEYS = ("from_account", "to_account_number", "payee_name", "amount", "remark")


def _page(
    request: Request, demo: service.DemoSession, template: str, context: dict[str, Any]
) -> Response:
    token = anonymous_csrf(request)
    today = request.app.state.wangyin.clock.now().astimezone(BANK_TZ).date()
    response = render(
        request,
        template,
        {
            **context,
            "demo": demo,
            "demo_ends": demo.ends_at.astimezone(BANK_TZ).strftime("%H:%M"),
            "today": today,
            "csrf_token": token,
            "sample": sample,
        },
        status=context.get("status", 200),
    )
    set_anonymous_csrf(request, response, token)
    return response


async def _posted(request: Request) -> dict[str, Any]:
    """The form, its CSRF field checked (the double-submit cookie: a demo has no login)."""
    form = await form_data(request)
    check_form_csrf(request, str(form.get("csrf_token", "")), None)
    return form


async def _demo_form(request: Request) -> tuple[service.DemoSession, dict[str, Any]] | None:
    """A demo step's live session and its checked form; None once the demo has ended."""
    demo = live_demo(request)
    if demo is None:
        return None
    return demo, await _posted(request)


def _ended() -> Response:
    return RedirectResponse("/demo?ended=1", status_code=303)


@router.get("/demo")
def intro(request: Request, ended: str = "") -> Response:
    token = anonymous_csrf(request)
    response = render(
        request,
        "demo/intro.html",
        {
            "csrf_token": token,
            "ended": ended == "1",
            "live": live_demo(request) is not None,
            "minutes": service.DEMO_MINUTES,
        },
    )
    set_anonymous_csrf(request, response, token)
    return response


@router.post("/demo/start")
async def start(request: Request, state: State) -> Response:
    await _posted(request)
    token, _ = actions.start(state, ip=client_ip(request))
    response = RedirectResponse("/demo/home", status_code=303)
    response.set_cookie(
        DEMO_COOKIE,
        token,
        max_age=service.DEMO_MINUTES * 60,
        httponly=True,
        samesite="strict",
        secure=state.settings.secure_cookies,
        path="/",
    )
    return response


@router.post("/demo/exit")
async def leave(request: Request) -> Response:
    await _posted(request)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(DEMO_COOKIE, path="/")
    return response


@router.get("/demo/home")
def home(request: Request) -> Response:
    demo = live_demo(request)
    if demo is None:
        return _ended()
    return _page(request, demo, "demo/home.html", {"lines": sample.LINES[:5]})


@router.get("/demo/accounts")
def accounts(request: Request) -> Response:
    demo = live_demo(request)
    if demo is None:
        return _ended()
    return _page(request, demo, "demo/accounts.html", {})


@router.get("/demo/history")
def history(request: Request) -> Response:
    demo = live_demo(request)
    if demo is None:
        return _ended()
    return _page(request, demo, "demo/history.html", {"lines": sample.LINES})


@router.get("/demo/transfer")
def transfer_form(request: Request, payee: int | None = None) -> Response:
    demo = live_demo(request)
    if demo is None:
        return _ended()
    values: dict[str, str] = {"from_account": "current"}
    if payee is not None and 0 <= payee < len(sample.PAYEES):
        chosen = sample.PAYEES[payee]
        values.update(payee_name=chosen.name, to_account_number=chosen.number)
    return _page(request, demo, "demo/transfer.html", {"values": values})


@router.post("/demo/transfer")
async def transfer_review(request: Request) -> Response:
    """Next -> the confirm page; 返回修改 (action=edit) -> the form with what was typed."""
    found = await _demo_form(request)
    if found is None:
        return _ended()
    demo, form = found
    values = {key: str(form.get(key, "")) for key in _FORM_KEYS}
    if form.get("action") == "edit":
        return _page(request, demo, "demo/transfer.html", {"values": values})
    try:
        transfer = service.review_transfer(
            from_account=values["from_account"],
            payee_name=values["payee_name"],
            payee_account=values["to_account_number"],
            amount=values["amount"],
            remark=values["remark"],
        )
    except DomainError as error:
        return _page(
            request,
            demo,
            "demo/transfer.html",
            {
                "values": values,
                "errors": field_errors(request, error, _TRANSFER_FIELDS),
                "status": 422,
            },
        )
    return _page(request, demo, "demo/confirm.html", {"transfer": transfer, "values": values})


@router.post("/demo/transfer/confirm")
async def transfer_confirm(request: Request) -> Response:
    """The end of the walk-through: says plainly that a demo moves no money."""
    found = await _demo_form(request)
    if found is None:
        return _ended()
    demo, _ = found
    return _page(
        request,
        demo,
        "demo/done.html",
        {"message": error_text(request, DomainError("demo_read_only"))},
    )


def install() -> None:
    """Lets the login page see a live demo and offer to leave it first (a demo visitor's
    login would be refused demo_read_only like every write)."""
    environment().globals["demo_live"] = lambda request: live_demo(request) is not None
