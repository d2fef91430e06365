"""JSON API: GET /api/v1/home, the same data as the home page."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from wangyin.home import service
from wangyin.money import format_minor
from wangyin.uow import run_read
from wangyin.web.context import ApiUser, State

router = APIRouter(tags=["home"])


class RecentOut(BaseModel):
    id: str
    booked_at: str
    amount: str
    currency: str
    counterparty: str
    memo: str


class PayeeOut(BaseModel):
    id: str
    name: str
    number_tail: str
    transfers: int
    transfer_url: str


class HomeOut(BaseModel):
    total_assets_cny: str
    unrated_currencies: list[str]
    month_income_cny: str
    month_spending_cny: str
    recent: list[RecentOut]
    transfer_again: list[PayeeOut]
    security_tips: list[str]


def load(state: State, customer_id: int) -> service.Home:
    now = state.clock.now()
    rates = state.settings.limit_cny_rates
    return run_read(
        state.db, lambda s: service.home(s, customer_id=customer_id, now=now, rates=rates)
    )


@router.get("/home", response_model=HomeOut)
def home(user: ApiUser, state: State) -> HomeOut:
    data = load(state, user.customer_id)
    return HomeOut(
        total_assets_cny=format_minor(data.total_assets_cny_minor, "CNY"),
        unrated_currencies=data.unrated_currencies,
        month_income_cny=format_minor(data.month_income_cny_minor, "CNY"),
        month_spending_cny=format_minor(data.month_spending_cny_minor, "CNY"),
        recent=[
            RecentOut(
                id=r.id,
                booked_at=r.booked_at.isoformat(),
                amount=format_minor(r.amount_minor, r.currency),
                currency=r.currency,
                counterparty=r.counterparty_name,
                memo=r.memo,
            )
            for r in data.recent
        ],
        transfer_again=[
            PayeeOut(
                id=p.public_id,
                name=p.name,
                number_tail=p.number_tail,
                transfers=p.transfers,
                transfer_url=f"/transfer?payee={p.public_id}",
            )
            for p in data.frequent_payees
        ],
        security_tips=list(data.tips),
    )
