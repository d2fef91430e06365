"""JSON API: accounts overview, detail, history and CSV export."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from wangyin.accounts import service as accounts
from wangyin.accounts.schemas import (
    AccountOut,
    CurrencyTotal,
    HistoryLineOut,
    HistoryPageOut,
    OverviewOut,
)
from wangyin.money import format_minor, parse_amount
from wangyin.security.masking import mask_card
from wangyin.uow import run_read
from wangyin.web.context import ApiUser, State

router = APIRouter(tags=["accounts"])


def account_out(view: accounts.AccountView) -> AccountOut:
    return AccountOut(
        id=view.public_id,
        account_number=view.account_number,
        card_number=mask_card(view.card_number) if view.card_number else None,
        kind=view.kind,
        currency=view.currency,
        status=view.status,
        nickname=view.nickname,
        balance=view.balance,
        available_balance=view.available,
        account_class=view.account_class,
    )


@router.get("/accounts", response_model=OverviewOut)
def overview(user: ApiUser, state: State) -> OverviewOut:
    views = run_read(state.db, lambda s: accounts.list_accounts(s, customer_id=user.customer_id))
    totals = accounts.totals_by_currency(views)
    return OverviewOut(
        accounts=[account_out(v) for v in views],
        totals=[CurrencyTotal(currency=c, balance=format_minor(t, c)) for c, t in totals.items()],
    )


@router.get("/accounts/{account_id}", response_model=AccountOut)
def account_detail(account_id: str, user: ApiUser, state: State) -> AccountOut:
    view = run_read(
        state.db,
        lambda s: accounts.account_view(
            s, customer_id=user.customer_id, account_public_id=account_id
        ),
    )
    return account_out(view)


class HistoryQuery:
    """The filters shared by the JSON history, its CSV export and the history page."""

    # A search form sends every field, filled or not: an empty one is no filter (issue 9),
    # so each filter also takes "" (a date that is not one is still refused).
    def __init__(
        self,
        date_from: Annotated[date | Literal[""] | None, Query(alias="from")] = None,
        date_to: Annotated[date | Literal[""] | None, Query(alias="to")] = None,
        direction: Literal["in", "out", ""] | None = None,
        min_amount: Annotated[str | None, Query(max_length=30)] = None,
        max_amount: Annotated[str | None, Query(max_length=30)] = None,
    ) -> None:
        self.date_from = date_from or None
        self.date_to = date_to or None
        self.direction = direction or None
        self.min_amount = min_amount or None
        self.max_amount = max_amount or None

    def to_filter(self, currency: str) -> accounts.HistoryFilter:
        return accounts.HistoryFilter(
            date_from=self.date_from,
            date_to=self.date_to,
            direction=self.direction,
            min_amount_minor=parse_amount(self.min_amount, currency) if self.min_amount else None,
            max_amount_minor=parse_amount(self.max_amount, currency) if self.max_amount else None,
        )


@router.get("/accounts/{account_id}/transactions", response_model=HistoryPageOut)
def history(
    account_id: str,
    user: ApiUser,
    state: State,
    q: Annotated[HistoryQuery, Depends()],
    cursor: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> HistoryPageOut:
    def action(s):  # type: ignore[no-untyped-def]
        account = accounts.owned_account(
            s, customer_id=user.customer_id, account_public_id=account_id
        )
        return accounts.history(
            s,
            customer_id=user.customer_id,
            account_public_id=account_id,
            flt=q.to_filter(account.currency),
            cursor=cursor,
            limit=limit,
        )

    page = run_read(state.db, action)
    return HistoryPageOut(
        lines=[
            HistoryLineOut(
                id=line.id,
                booked_at=line.booked_at,
                direction=line.direction,
                amount=line.amount,
                currency=line.currency,
                balance_after=line.balance_after,
                counterparty_name=line.counterparty_name,
                counterparty_account=line.counterparty_account,
                memo=line.memo,
                kind=line.kind,
            )
            for line in page.lines
        ],
        next_cursor=page.next_cursor,
    )


def csv_response(
    state: State, user_customer_id: int, account_id: str, q: HistoryQuery, lang: str | None = None
) -> StreamingResponse:
    def action(s):  # type: ignore[no-untyped-def]
        account = accounts.owned_account(
            s, customer_id=user_customer_id, account_public_id=account_id
        )
        chunks = list(
            accounts.history_csv(
                s,
                customer_id=user_customer_id,
                account_public_id=account_id,
                flt=q.to_filter(account.currency),
                lang=lang,
            )
        )
        return account.account_number[-4:], chunks

    tail, chunks = run_read(state.db, action)
    return StreamingResponse(
        iter(chunks),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="wangyin-{tail}-history.csv"'},
    )


@router.get(
    "/accounts/{account_id}/transactions.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def history_csv(
    account_id: str, user: ApiUser, state: State, q: Annotated[HistoryQuery, Depends()]
) -> StreamingResponse:
    return csv_response(state, user.customer_id, account_id, q)
