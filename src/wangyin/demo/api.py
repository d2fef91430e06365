"""JSON for the demo (5.2.3-d). A demo session is a bearer token of its own kind (no
cookie, so no CSRF): POST /api/v1/demo/sessions starts one; GET accounts and history read
the sample data; POST transfers checks a transfer and answers what the confirm step would
show. There is no confirm: POST /api/v1/demo/transfers/confirm, like every other unsafe
route, is refused `demo_read_only` by the guard."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from wangyin.clock import BANK_TZ
from wangyin.demo import actions, sample, service
from wangyin.demo.guard import live_demo
from wangyin.errors import DomainError
from wangyin.money import format_minor
from wangyin.web.context import State, bearer_token, client_ip, lang

router = APIRouter()


def demo_api_session(request: Request) -> service.DemoSession:
    token = bearer_token(request) or ""
    if not service.looks_like_demo(token):
        raise DomainError("not_authenticated")
    demo = live_demo(request)
    if demo is None:
        raise DomainError("demo_expired")
    return demo


DemoApiSession = Annotated[service.DemoSession, Depends(demo_api_session)]


class DemoTransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_account: str = Field(default="current", max_length=20)
    to_account_number: str = Field(max_length=30)
    payee_name: str = Field(max_length=50)
    amount: str = Field(max_length=30)
    remark: str = Field(default="", max_length=50)


@router.post("/demo/sessions", status_code=201)
def start(request: Request, state: State) -> dict[str, Any]:
    token, demo = actions.start(state, ip=client_ip(request))
    return {"token": token, "expires_at": demo.ends_at.isoformat(), "demo": True}


@router.get("/demo/accounts")
def accounts(request: Request, demo: DemoApiSession) -> dict[str, Any]:
    chosen = lang(request)
    return {
        "demo": True,
        "accounts": [
            {
                "key": a.key,
                "name": a.title(chosen),
                "account_number": a.number,
                "currency": a.currency,
                "balance": format_minor(a.balance_minor, a.currency),
            }
            for a in sample.ACCOUNTS
        ],
    }


@router.get("/demo/history")
def history(request: Request, state: State, demo: DemoApiSession) -> dict[str, Any]:
    chosen = lang(request)
    today = state.clock.now().astimezone(BANK_TZ).date()
    return {
        "demo": True,
        "items": [
            {
                "date": line.on(today).isoformat(),
                "account": line.account,
                "description": line.title(chosen),
                "counterparty": line.counterparty,
                "amount": format_minor(line.amount_minor, "CNY"),
                "currency": "CNY",
            }
            for line in sample.LINES
        ],
    }


@router.post("/demo/transfers")
def review(body: DemoTransferIn, demo: DemoApiSession) -> dict[str, Any]:
    transfer = service.review_transfer(
        from_account=body.from_account,
        payee_name=body.payee_name,
        payee_account=body.to_account_number,
        amount=body.amount,
        remark=body.remark,
    )
    return {
        "demo": True,
        "moves_money": False,
        "from_account": transfer.from_account.number,
        "to_account_number": transfer.payee_account,
        "payee_name": transfer.payee_name,
        "amount": format_minor(transfer.amount_minor, "CNY"),
        "currency": "CNY",
        "remark": transfer.remark,
    }


@router.post("/demo/transfers/confirm")
def confirm(demo: DemoApiSession) -> dict[str, Any]:
    """The step that would move money: never, in the demo (the guard refuses it first; this
    answers the same for a caller without a live demo token)."""
    raise DomainError("demo_read_only")
