"""Use cases of the home page, shared by the JSON API and the pages: one transaction each."""

from __future__ import annotations

from wangyin.home import preferences, service
from wangyin.home.preferences import Preferences
from wangyin.identity.service import CurrentUser
from wangyin.runtime import AppState
from wangyin.uow import run_read, run_write


def home(*, state: AppState, user: CurrentUser) -> service.Home:
    now = state.clock.now()
    rates = state.settings.limit_cny_rates
    return run_read(
        state.db,
        lambda s: service.home(
            s,
            customer_id=user.customer_id,
            user_id=user.user_id,
            now=now,
            rates=rates,
            can_transfer=user.edition == "professional",
        ),
    )


def get_preferences(*, state: AppState, user: CurrentUser) -> Preferences:
    return run_read(state.db, lambda s: preferences.read(s, customer_id=user.customer_id))


def set_amounts_hidden(*, state: AppState, user: CurrentUser, hidden: bool) -> Preferences:
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: preferences.set_amounts_hidden(
            s, customer_id=user.customer_id, hidden=hidden, now=now
        ),
    )


def set_quick_functions(*, state: AppState, user: CurrentUser, keys: list[str]) -> Preferences:
    preferences.validate(keys)  # refused before the transaction starts
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: preferences.set_quick(s, customer_id=user.customer_id, keys=keys, now=now),
    )


def move_quick_function(
    *, state: AppState, user: CurrentUser, action: str, key: str
) -> Preferences:
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: preferences.move(
            s, customer_id=user.customer_id, action=action, key=key, now=now
        ),
    )
