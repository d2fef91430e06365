"""HTML pages: account overview, account detail with history, CSV export."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from wangyin.accounts import service as accounts
from wangyin.accounts.api import HistoryQuery, csv_response
from wangyin.errors import DomainError
from wangyin.money import parse_amount
from wangyin.uow import run_read
from wangyin.web.context import PageUser, State, lang
from wangyin.web.forms import error_text
from wangyin.web.render import render

router = APIRouter()


@router.get("/accounts")
def overview(request: Request, user: PageUser, state: State) -> Response:
    views = run_read(state.db, lambda s: accounts.list_accounts(s, customer_id=user.customer_id))
    return render(
        request,
        "accounts/overview.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "accounts": views,
            "totals": accounts.totals_by_currency(views),
        },
    )


@router.get("/accounts/{account_id}")
def detail(
    account_id: str,
    request: Request,
    user: PageUser,
    state: State,
    q: Annotated[HistoryQuery, Depends()],
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    view = run_read(
        state.db,
        lambda s: accounts.account_view(
            s, customer_id=user.customer_id, account_public_id=account_id
        ),
    )
    errors: dict[str, str] = {}
    for field, text in (("min_amount", q.min_amount), ("max_amount", q.max_amount)):
        try:
            if text:
                parse_amount(text, view.currency)
        except DomainError as exc:
            errors[field] = error_text(request, exc)
    try:
        flt = q.to_filter(view.currency) if not errors else accounts.HistoryFilter()
    except DomainError as exc:
        errors["from"] = error_text(request, exc)  # the dates the wrong way round
    if errors:
        # A bad filter shows the unfiltered history with the reason beside its field.
        flt = accounts.HistoryFilter()
    page = run_read(
        state.db,
        lambda s: accounts.history(
            s,
            customer_id=user.customer_id,
            account_public_id=account_id,
            flt=flt,
            cursor=cursor,
            limit=20,
        ),
    )
    filters = {
        "from": q.date_from.isoformat() if q.date_from else "",
        "to": q.date_to.isoformat() if q.date_to else "",
        "direction": q.direction or "",
        "min_amount": q.min_amount or "",
        "max_amount": q.max_amount or "",
    }
    query_string = urlencode({k: v for k, v in filters.items() if v})
    return render(
        request,
        "accounts/detail.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "account": view,
            "page": page,
            "filters": filters,
            "query_string": query_string,
            "errors": errors,
        },
    )


@router.get("/accounts/{account_id}/history.csv")
def history_csv(
    account_id: str,
    request: Request,
    user: PageUser,
    state: State,
    q: Annotated[HistoryQuery, Depends()],
) -> StreamingResponse:
    return csv_response(state, user.customer_id, account_id, q, lang=lang(request))
