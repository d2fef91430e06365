"""Use cases of the charts, shared by the JSON API and the pages: one transaction each.
"This month" comes from the injected clock, in Beijing time."""

from __future__ import annotations

from sqlalchemy.orm import Session

from wangyin.accounts import service as accounts
from wangyin.accounts.service import AccountView
from wangyin.identity.service import CurrentUser
from wangyin.insights import service
from wangyin.insights.service import Balance, Categories, EntryLine, Monthly
from wangyin.runtime import AppState
from wangyin.uow import run_read, run_write


def monthly(*, state: AppState, user: CurrentUser) -> Monthly:
    now = state.clock.now()
    rates = state.settings.limit_cny_rates
    return run_read(
        state.db,
        lambda s: service.monthly(s, customer_id=user.customer_id, now=now, rates=rates),
    )


def categories(*, state: AppState, user: CurrentUser, month: str | None) -> Categories:
    first = service.parse_month(month, now=state.clock.now())  # refused before any query
    rates = state.settings.limit_cny_rates
    return run_read(
        state.db,
        lambda s: service.categories(s, customer_id=user.customer_id, month=first, rates=rates),
    )


def categories_and_entries(
    *, state: AppState, user: CurrentUser, month: str | None
) -> tuple[Categories, list[EntryLine]]:
    """The category page: the month's totals and its statement lines, one transaction."""
    first = service.parse_month(month, now=state.clock.now())
    rates = state.settings.limit_cny_rates

    def read(s: Session) -> tuple[Categories, list[EntryLine]]:
        cid = user.customer_id
        return (
            service.categories(s, customer_id=cid, month=first, rates=rates),
            service.entries(s, customer_id=cid, month=first),
        )

    return run_read(state.db, read)


def entries(*, state: AppState, user: CurrentUser, month: str | None) -> list[EntryLine]:
    first = service.parse_month(month, now=state.clock.now())
    return run_read(
        state.db, lambda s: service.entries(s, customer_id=user.customer_id, month=first)
    )


def balance(*, state: AppState, user: CurrentUser, account_id: str | None) -> Balance:
    """One of the customer's accounts (their first when none is named)."""
    now = state.clock.now()

    def read(s: Session) -> Balance:
        chosen = account_id or service.first_account(s, customer_id=user.customer_id)
        return service.balance(s, customer_id=user.customer_id, account_id=chosen, now=now)

    return run_read(state.db, read)


def balance_and_accounts(
    *, state: AppState, user: CurrentUser, account_id: str | None
) -> tuple[Balance, list[AccountView]]:
    """The balance page: the chart's account and the customer's accounts to choose from,
    one transaction."""
    now = state.clock.now()

    def read(s: Session) -> tuple[Balance, list[AccountView]]:
        cid = user.customer_id
        chosen = account_id or service.first_account(s, customer_id=cid)
        return (
            service.balance(s, customer_id=cid, account_id=chosen, now=now),
            accounts.list_accounts(s, customer_id=cid),
        )

    return run_read(state.db, read)


def entry(*, state: AppState, user: CurrentUser, entry_id: str) -> EntryLine:
    return run_read(
        state.db, lambda s: service.entry(s, customer_id=user.customer_id, entry_id=entry_id)
    )


def set_category(
    *, state: AppState, user: CurrentUser, entry_id: str, category: str, always: bool
) -> EntryLine:
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: service.set_category(
            s,
            customer_id=user.customer_id,
            entry_id=entry_id,
            category=category,
            always=always,
            at=now,
        ),
    )
