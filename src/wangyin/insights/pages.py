"""收支分析 pages: monthly income and spending, spending by category (with the month's
statement lines and a page to correct one line's category), balance over time. Each chart
is an <img> of an SVG from the routes below (pygal's SVG carries a <style>; as an image
it leaves the page's CSP alone), with a one-sentence summary and a data table."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from wangyin.errors import DomainError
from wangyin.experience.pages import care_on
from wangyin.i18n import gettext
from wangyin.insights import actions, charts, texts
from wangyin.insights.categories import CATEGORIES
from wangyin.insights.service import MONTHS, month_of, shift
from wangyin.web.context import PageUser, State, check_form_csrf, lang
from wangyin.web.forms import error_text, form_data
from wangyin.web.render import render

router = APIRouter()
Month = Annotated[str, Query(max_length=20)]
Layout = Annotated[str, Query(max_length=10)]
AccountId = Annotated[str, Query(max_length=36)]


def _svg(data: bytes) -> Response:
    # Personal data: never kept by a shared cache or the browser's disk cache.
    return Response(
        data,
        media_type="image/svg+xml",
        headers={"Cache-Control": "private, no-store", "Content-Disposition": "inline"},
    )


def _layout(value: str) -> str:
    return value if value in charts.LAYOUTS else "wide"


def _page(request: Request, user: PageUser, template: str, context: dict[str, object]) -> Response:
    return render(
        request,
        template,
        {"user": user, "csrf_token": user.csrf_token, "month_label": texts.month_label, **context},
    )


@router.get("/insights")
def monthly_page(request: Request, user: PageUser, state: State) -> Response:
    data = actions.monthly(state=state, user=user)
    return _page(
        request,
        user,
        "insights/monthly.html",
        {"data": data, "summary": texts.monthly_summary(data, lang(request))},
    )


@router.get("/insights/monthly.svg")
def monthly_svg(request: Request, user: PageUser, state: State, layout: Layout = "") -> Response:
    data = actions.monthly(state=state, user=user)
    chosen = lang(request)
    return _svg(
        charts.monthly_chart(
            labels=[texts.month_label(m.month, chosen, short=True) for m in data.months],
            income=[m.income_minor for m in data.months],
            spending=[m.spending_minor for m in data.months],
            names=(gettext("Income", chosen), gettext("Spending (hatched)", chosen)),
            title=gettext("Income and spending, last 12 months (yuan)", chosen),
            care=care_on(request, user),
            layout=_layout(layout),
            lang=chosen,
        )
    )


@router.get("/insights/categories")
def categories_page(request: Request, user: PageUser, state: State, month: Month = "") -> Response:
    data, entries = actions.categories_and_entries(state=state, user=user, month=month)
    chosen = lang(request)
    now_month = month_of(state.clock.now())
    return _page(
        request,
        user,
        "insights/categories.html",
        {
            "data": data,
            "summary": texts.categories_summary(data, chosen),
            "entries": entries,
            "category_name": lambda key: texts.category_name(key, chosen),
            "share": texts.share,
            "months": [f"{shift(now_month, -i):%Y-%m}" for i in range(MONTHS)],
            "done": request.query_params.get("done") == "1",
        },
    )


@router.get("/insights/categories.svg")
def categories_svg(
    request: Request, user: PageUser, state: State, month: Month = "", layout: Layout = ""
) -> Response:
    data = actions.categories(state=state, user=user, month=month)
    chosen = lang(request)
    return _svg(
        charts.categories_chart(
            labels=[texts.category_name(t.category, chosen) for t in data.totals],
            values=[t.spending_minor for t in data.totals],
            title=gettext(
                "Spending by category, {month} (yuan)",
                chosen,
                month=texts.month_label(data.month, chosen),
            ),
            no_data=gettext("No spending", chosen),
            care=care_on(request, user),
            layout=_layout(layout),
            lang=chosen,
        )
    )


@router.get("/insights/balance")
def balance_page(
    request: Request, user: PageUser, state: State, account: AccountId = ""
) -> Response:
    data, views = actions.balance_and_accounts(state=state, user=user, account_id=account or None)
    return _page(
        request,
        user,
        "insights/balance.html",
        {
            "data": data,
            "accounts": views,
            "summary": texts.balance_summary(data, lang(request)),
        },
    )


@router.get("/insights/balance.svg")
def balance_svg(
    request: Request, user: PageUser, state: State, account: AccountId = "", layout: Layout = ""
) -> Response:
    data = actions.balance(state=state, user=user, account_id=account or None)
    chosen = lang(request)
    return _svg(
        charts.balance_chart(
            labels=[texts.month_label(p.month, chosen, short=True) for p in data.points],
            values=[p.balance_minor for p in data.points],
            currency=data.currency,
            name=gettext("Balance", chosen),
            title=gettext(
                "Balance at the end of each month ({currency})", chosen, currency=data.currency
            ),
            care=care_on(request, user),
            layout=_layout(layout),
            lang=chosen,
        )
    )


def _entry_page(
    request: Request,
    user: PageUser,
    state: State,
    entry_id: str,
    *,
    error: str = "",
    status: int = 200,
) -> Response:
    line = actions.entry(state=state, user=user, entry_id=entry_id)
    chosen = lang(request)
    return render(
        request,
        "insights/entry.html",
        {
            "user": user,
            "csrf_token": user.csrf_token,
            "line": line,
            "month": f"{month_of(line.booked_at):%Y-%m}",
            "choices": [(key, texts.category_name(key, chosen)) for key in CATEGORIES],
            "category_name": lambda key: texts.category_name(key, chosen),
            "error": error,
        },
        status=status,
    )


@router.get("/insights/entries/{entry_id}")
def entry_page(entry_id: str, request: Request, user: PageUser, state: State) -> Response:
    return _entry_page(request, user, state, entry_id)


@router.post("/insights/entries/{entry_id}")
async def entry_save(entry_id: str, request: Request, user: PageUser, state: State) -> Response:
    form = await form_data(request)
    check_form_csrf(request, form.get("csrf_token", ""), user)
    try:
        line = actions.set_category(
            state=state,
            user=user,
            entry_id=entry_id,
            category=form.get("category", ""),
            always=form.get("always") == "1",
        )
    except DomainError as exc:
        if exc.code != "invalid_category":
            raise
        return _entry_page(
            request, user, state, entry_id, error=error_text(request, exc), status=exc.status
        )
    month = f"{month_of(line.booked_at):%Y-%m}"
    return RedirectResponse(f"/insights/categories?month={month}&done=1", status_code=303)
