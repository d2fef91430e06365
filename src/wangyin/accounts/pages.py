"""HTML pages: account overview, account detail with history, CSV export."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from wangyin.accounts import service as accounts
from wangyin.accounts.api import HistoryQuery, csv_response
from wangyin.errors import DomainError
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
    error = ""
    view = run_read(
        state.db,
        lambda s: accounts.account_view(
            s, customer_id=user.customer_id, account_public_id=account_id
        ),
    )
    try:
        flt = q.to_filter(view.currency)
    except DomainError as exc:
        # A bad filter shows the unfiltered history with the reason, not an error page.
        error = error_text(request, exc)
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
            "error": error,
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
