"""The home page's rules without a database: the quick functions are checked against the
function catalogue (known, pinnable, once each, at most 8), "about every month" and what
the gzip middleware compresses (issue 9 §2, §7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wangyin.errors import DomainError
from wangyin.experience.catalogue import BY_KEY
from wangyin.home import preferences
from wangyin.home.suggestions import _Paid, is_monthly
from wangyin.web.compress import _wanted

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def test_the_defaults_are_real_pinnable_functions_and_fewer_than_the_cap() -> None:
    pinnable = {e.key for e in preferences.pinnable()}
    assert set(preferences.QUICK_DEFAULTS) <= pinnable
    assert len(preferences.QUICK_DEFAULTS) <= preferences.QUICK_MAX == 8
    assert "functions" not in pinnable  # always the grid's last tile
    assert not {"forgot", "demo"} & pinnable  # for those not logged in
    assert all(BY_KEY[k].kind == "function" for k in pinnable)  # no FAQ entries


@pytest.mark.parametrize(
    ("keys", "code"),
    [
        (["accounts", "nosuch"], "unknown_function"),
        (["faq_limits"], "unknown_function"),  # an FAQ answer is not a function
        (["functions"], "unknown_function"),
        (["accounts", "transfer", "accounts"], "duplicate_function"),
    ],
)
def test_a_list_with_a_bad_key_is_refused_whole(keys: list[str], code: str) -> None:
    with pytest.raises(DomainError) as refused:
        preferences.validate(keys)
    assert refused.value.code == code


def test_at_most_eight_are_pinned() -> None:
    keys = [e.key for e in preferences.pinnable()]
    assert len(keys) > preferences.QUICK_MAX
    assert preferences.validate(keys[:8]) == tuple(keys[:8])
    with pytest.raises(DomainError) as refused:
        preferences.validate(keys[:9])
    assert refused.value.code == "too_many_quick_functions"
    assert preferences.validate([]) == ()


def test_a_function_the_catalogue_dropped_disappears_from_a_saved_grid() -> None:
    assert preferences._decode("accounts,gone,payees") == ("accounts", "payees")
    assert preferences._decode(None) == preferences.QUICK_DEFAULTS
    assert preferences._decode("") == ()


def _paid(count: int, days: int) -> _Paid:
    return _Paid("6217000000000000001", count, T0, T0 + timedelta(days=days))


def test_about_every_month_means_three_payments_20_to_40_days_apart() -> None:
    assert is_monthly(_paid(3, 60))
    assert is_monthly(_paid(6, 150))
    assert not is_monthly(_paid(2, 30))  # two payments are not a habit yet
    assert not is_monthly(_paid(10, 9))  # many in a few days: not monthly
    assert not is_monthly(_paid(3, 200))  # far apart


def _scope(path: str, query: bytes = b"", encoding: bytes = b"gzip, br") -> dict[str, object]:
    headers = [(b"accept-encoding", encoding)] if encoding else []
    return {"type": "http", "path": path, "query_string": query, "headers": headers}


def test_gzip_is_asked_for_pages_and_static_files_never_the_api() -> None:
    assert _wanted(_scope("/home"))
    assert _wanted(_scope("/static/app.css", b"v=abc"))
    assert not _wanted(_scope("/api/v1/home"))  # the transfer hot path's CPU
    assert not _wanted(_scope("/api/v1/transfers", b"x=1"))
    assert not _wanted(_scope("/home", encoding=b""))
    # A page asked for with a query string may reflect it beside the CSRF token (BREACH).
    assert not _wanted(_scope("/functions", b"q=zz"))
