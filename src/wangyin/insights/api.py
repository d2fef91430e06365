"""JSON API of the charts (5.2.1-b): the data behind each chart with its one-sentence
summary, the statement lines with their categories, and the customer's correction of a
line's category (optionally always for its counterparty). Amounts are decimal strings of
CNY (foreign currencies at the stated rates), months `YYYY-MM` in Beijing time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from wangyin.insights import actions, texts
from wangyin.insights.service import EntryLine
from wangyin.money import format_minor
from wangyin.security.masking import mask_name
from wangyin.web.context import ApiUser, State, lang

router = APIRouter(prefix="/insights", tags=["insights"])
MonthQuery = Annotated[str, Query(max_length=20, description="YYYY-MM (Beijing); empty: now")]


class MonthOut(BaseModel):
    month: str
    income: str
    spending: str


class MonthlyOut(BaseModel):
    currency: str = "CNY"
    months: list[MonthOut]
    unrated_currencies: list[str]
    summary: str


class CategoryOut(BaseModel):
    category: str
    name: str
    spending: str
    count: int
    share_percent: int


class CategoriesOut(BaseModel):
    currency: str = "CNY"
    month: str
    spending: str
    previous_month_spending: str
    categories: list[CategoryOut]
    unrated_currencies: list[str]
    summary: str


class PointOut(BaseModel):
    month: str
    balance: str


class BalanceOut(BaseModel):
    account_id: str
    currency: str
    points: list[PointOut]
    summary: str


class EntryOut(BaseModel):
    id: str
    booked_at: str
    amount: str
    currency: str
    memo: str
    counterparty: str
    category: str
    category_name: str
    corrected: str = Field(description='"" (the rules), "entry" or "counterparty"')


class CategoryIn(BaseModel):
    category: str = Field(default="", max_length=20, description="a key of the category list")
    always_for_counterparty: bool = False


def entry_out(line: EntryLine, chosen: str) -> EntryOut:
    return EntryOut(
        id=line.id,
        booked_at=line.booked_at.isoformat(),
        amount=format_minor(line.amount_minor, line.currency),
        currency=line.currency,
        memo=line.memo,
        # A person's name is masked, as on the statement.
        counterparty=mask_name(line.counterparty_name)
        if line.to_person
        else line.counterparty_name,
        category=line.category,
        category_name=texts.category_name(line.category, chosen),
        corrected=line.corrected,
    )


@router.get("/monthly", response_model=MonthlyOut)
def monthly(request: Request, user: ApiUser, state: State) -> MonthlyOut:
    """Income and spending per month, the last 12 Beijing months, oldest first."""
    data = actions.monthly(state=state, user=user)
    return MonthlyOut(
        months=[
            MonthOut(
                month=m.month,
                income=format_minor(m.income_minor, "CNY"),
                spending=format_minor(m.spending_minor, "CNY"),
            )
            for m in data.months
        ],
        unrated_currencies=data.unrated_currencies,
        summary=texts.monthly_summary(data, lang(request)),
    )


@router.get("/categories", response_model=CategoriesOut)
def categories(
    request: Request, user: ApiUser, state: State, month: MonthQuery = ""
) -> CategoriesOut:
    """Spending by category in one month, largest first."""
    data = actions.categories(state=state, user=user, month=month)
    chosen = lang(request)
    total = data.spending_minor
    return CategoriesOut(
        month=data.month,
        spending=format_minor(total, "CNY"),
        previous_month_spending=format_minor(data.previous_spending_minor, "CNY"),
        categories=[
            CategoryOut(
                category=t.category,
                name=texts.category_name(t.category, chosen),
                spending=format_minor(t.spending_minor, "CNY"),
                count=t.count,
                share_percent=texts.share(t.spending_minor, total),
            )
            for t in data.totals
        ],
        unrated_currencies=data.unrated_currencies,
        summary=texts.categories_summary(data, chosen),
    )


@router.get("/balance", response_model=BalanceOut)
def balance(
    request: Request,
    user: ApiUser,
    state: State,
    account: Annotated[str, Query(max_length=36)] = "",
) -> BalanceOut:
    """One account's balance at the end of each of the last 12 months (the first account
    when none is named); someone else's account is not found."""
    data = actions.balance(state=state, user=user, account_id=account or None)
    return BalanceOut(
        account_id=data.account_id,
        currency=data.currency,
        points=[
            PointOut(month=p.month, balance=format_minor(p.balance_minor, data.currency))
            for p in data.points
        ],
        summary=texts.balance_summary(data, lang(request)),
    )


@router.get("/entries", response_model=list[EntryOut])
def entries(
    request: Request, user: ApiUser, state: State, month: MonthQuery = ""
) -> list[EntryOut]:
    """The month's statement lines with their categories, newest first (at most 50)."""
    chosen = lang(request)
    return [
        entry_out(line, chosen) for line in actions.entries(state=state, user=user, month=month)
    ]


def _set(
    entry_id: str, body: CategoryIn, request: Request, user: ApiUser, state: State
) -> EntryOut:
    line = actions.set_category(
        state=state,
        user=user,
        entry_id=entry_id,
        category=body.category,
        always=body.always_for_counterparty,
    )
    return entry_out(line, lang(request))


@router.put("/entries/{entry_id}/category", response_model=EntryOut)
def put_category(
    entry_id: str, body: CategoryIn, request: Request, user: ApiUser, state: State
) -> EntryOut:
    """The customer's category for one of their lines (and with `always_for_counterparty`
    for every line with its counterparty); it wins over the rules. Repeating it is harmless."""
    return _set(entry_id, body, request, user, state)


@router.post("/entries/{entry_id}/category", response_model=EntryOut)
def post_category(
    entry_id: str, body: CategoryIn, request: Request, user: ApiUser, state: State
) -> EntryOut:
    """The same as PUT, for clients that only POST."""
    return _set(entry_id, body, request, user, state)
