"""A journal entry must balance before anything touches the database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wangyin.errors import DomainError
from wangyin.ledger.service import Leg, post, request_digest

AT = datetime(2026, 3, 2, tzinfo=UTC)


class ExplodingSession:
    """A session that fails the test if the ledger tries to use it."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the database was touched ({name}) for an invalid entry")


@pytest.mark.parametrize(
    "legs",
    [
        [Leg(1, -100, "CNY"), Leg(2, 99, "CNY")],  # off by one fen
        [Leg(1, -100, "CNY"), Leg(2, 100, "USD")],  # balanced in total, not per currency
        [Leg(1, -100, "CNY")],  # one leg
        [Leg(1, 0, "CNY"), Leg(2, 0, "CNY")],  # nothing moves
    ],
)
def test_unbalanced_or_empty_entries_raise_value_error(legs: list[Leg]) -> None:
    with pytest.raises(ValueError):
        post(ExplodingSession(), kind="test", legs=legs, at=AT)  # type: ignore[arg-type]


def test_unknown_currency_leg_is_refused() -> None:
    with pytest.raises(DomainError) as info:
        post(
            ExplodingSession(),  # type: ignore[arg-type]
            kind="test",
            legs=[Leg(1, -1, "XYZ"), Leg(2, 1, "XYZ")],
            at=AT,
        )
    assert info.value.code == "unknown_currency"


def test_request_digest_is_canonical() -> None:
    assert request_digest({"a": 1, "b": "二"}) == request_digest({"b": "二", "a": 1})
    assert request_digest({"a": 1}) != request_digest({"a": 2})
