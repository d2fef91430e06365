"""When a scheduled or recurring transfer runs (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wangyin.clock import BANK_TZ, as_utc
from wangyin.errors import DomainError
from wangyin.schedules.service import Plan, parse_plan

NOW = datetime(2026, 1, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def _local(moment: datetime | None) -> str:
    assert moment is not None
    return moment.astimezone(BANK_TZ).strftime("%Y-%m-%d %H:%M")


def test_monthly_on_the_31st_runs_on_the_last_day_of_shorter_months() -> None:
    plan = parse_plan(
        frequency="monthly",
        start_date="2026-01-31",
        start_time="08:00",
        end_date=None,
        max_runs=4,
        at=NOW,
    )
    assert [_local(plan.occurrence(n)) for n in range(4)] == [
        "2026-01-31 08:00",
        "2026-02-28 08:00",
        "2026-03-31 08:00",
        "2026-04-30 08:00",
    ]
    assert plan.occurrence(4) is None  # the count is reached
    assert plan.day == 31


def test_weekly_until_an_end_date_and_once_only_once() -> None:
    plan = parse_plan(
        frequency="weekly",
        start_date="2026-01-21",
        start_time="",
        end_date="2026-02-04",
        max_runs=None,
        at=NOW,
    )
    assert [_local(plan.occurrence(n)) for n in range(3)] == [
        "2026-01-21 09:00",
        "2026-01-28 09:00",
        "2026-02-04 09:00",
    ]
    assert plan.occurrence(3) is None and plan.day == 3  # a Wednesday
    once = Plan(frequency="once", start_at=as_utc(datetime(2026, 2, 1, 1, 0, tzinfo=UTC)))
    assert once.occurrence(0) is not None and once.occurrence(1) is None


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"start_date": "2026-01-20", "start_time": "10:02"}, "schedule_time_invalid"),
        ({"start_date": "2027-02-01"}, "schedule_time_invalid"),
        ({"start_date": "2026-13-01"}, "schedule_time_invalid"),
        ({"frequency": "monthly", "end_date": "2026-01-01"}, "schedule_end_invalid"),
        ({"frequency": "weekly", "max_runs": 121}, "schedule_end_invalid"),
        ({"frequency": "daily"}, "validation_error"),
    ],
)
def test_bad_schedules(fields: dict[str, object], code: str) -> None:
    given: dict[str, object] = {
        "frequency": "once",
        "start_date": "2026-01-21",
        "start_time": "09:00",
        "end_date": None,
        "max_runs": None,
        **fields,
    }
    with pytest.raises(DomainError) as refused:
        parse_plan(**given, at=NOW)  # type: ignore[arg-type]
    assert refused.value.code == code
