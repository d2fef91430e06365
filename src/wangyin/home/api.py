"""JSON API: GET /api/v1/home (the home page's data), the quick-functions grid
(GET/PUT /api/v1/home/quick-functions, validated against the function catalogue) and
the hide-amounts choice (GET/PUT /api/v1/home/preferences)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from wangyin.experience.catalogue import Entry
from wangyin.home import actions, preferences
from wangyin.home.preferences import Preferences
from wangyin.home.schemas import (
    FunctionOut,
    HomeOut,
    PayeeOut,
    PreferencesIn,
    PreferencesOut,
    QuickFunctionsIn,
    QuickFunctionsOut,
    RecentOut,
    SuggestionOut,
)
from wangyin.i18n import gettext
from wangyin.money import format_minor
from wangyin.web.context import ApiUser, State, lang

router = APIRouter(tags=["home"])


def function_out(entry: Entry, language: str) -> FunctionOut:
    return FunctionOut(key=entry.key, title=entry.title(language), url=entry.url)


def quick_out(prefs: Preferences, language: str) -> QuickFunctionsOut:
    return QuickFunctionsOut(
        pinned=[function_out(e, language) for e in preferences.entries(prefs.quick)],
        available=[function_out(e, language) for e in preferences.pinnable()],
        max=preferences.QUICK_MAX,
        defaults=not prefs.chosen,
    )


@router.get("/home", response_model=HomeOut)
def home(request: Request, user: ApiUser, state: State) -> HomeOut:
    data = actions.home(state=state, user=user)
    language = lang(request)
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
        amounts_hidden=data.prefs.amounts_hidden,
        quick_functions=[function_out(e, language) for e in preferences.entries(data.prefs.quick)],
        suggestions=[
            SuggestionOut(
                kind=s.kind,
                title=gettext(s.title, language),
                why=gettext(s.why, language, **s.params),
                url=s.url,
            )
            for s in data.suggestions
        ],
    )


@router.get("/home/quick-functions", response_model=QuickFunctionsOut)
def get_quick_functions(request: Request, user: ApiUser, state: State) -> QuickFunctionsOut:
    return quick_out(actions.get_preferences(state=state, user=user), lang(request))


@router.put("/home/quick-functions", response_model=QuickFunctionsOut)
def put_quick_functions(
    body: QuickFunctionsIn, request: Request, user: ApiUser, state: State
) -> QuickFunctionsOut:
    prefs = actions.set_quick_functions(state=state, user=user, keys=list(body.pinned))
    return quick_out(prefs, lang(request))


@router.get("/home/preferences", response_model=PreferencesOut)
def get_preferences(user: ApiUser, state: State) -> PreferencesOut:
    prefs = actions.get_preferences(state=state, user=user)
    return PreferencesOut(amounts_hidden=prefs.amounts_hidden)


@router.put("/home/preferences", response_model=PreferencesOut)
def put_preferences(body: PreferencesIn, user: ApiUser, state: State) -> PreferencesOut:
    prefs = actions.set_amounts_hidden(state=state, user=user, hidden=body.amounts_hidden)
    return PreferencesOut(amounts_hidden=prefs.amounts_hidden)
