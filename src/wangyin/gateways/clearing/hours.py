"""HVPS business hours: working days, from 20:30 of the previous calendar day to the 17:15
cut-off (Asia/Shanghai, configurable); BEPS and IBPS are open 7x24."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from wangyin.clearing.settings import ClearingSettings
from wangyin.clock import BANK_TZ, as_utc


def _time(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def working_day(day: date, settings: ClearingSettings) -> bool:
    holidays = {d.strip() for d in settings.holidays.split(",") if d.strip()}
    return day.weekday() < 5 and day.isoformat() not in holidays


def _windows(around: date, settings: ClearingSettings) -> list[tuple[datetime, datetime]]:
    """The HVPS windows of the working days from `around` on, for three weeks."""
    opens, cutoff = _time(settings.hvps_opens), _time(settings.hvps_cutoff)
    found = []
    for offset in range(-1, 21):
        day = around + timedelta(days=offset)
        if working_day(day, settings):
            start = datetime.combine(day - timedelta(days=1), opens, tzinfo=BANK_TZ)
            end = datetime.combine(day, cutoff, tzinfo=BANK_TZ)
            found.append((as_utc(start), as_utc(end)))
    return found


def hvps_open(at: datetime, settings: ClearingSettings) -> bool:
    at = as_utc(at)
    return any(
        start <= at < end for start, end in _windows(at.astimezone(BANK_TZ).date(), settings)
    )


def next_hvps_opening(at: datetime, settings: ClearingSettings) -> datetime:
    """`at` itself when HVPS is open, else when it opens next."""
    at = as_utc(at)
    for start, end in _windows(at.astimezone(BANK_TZ).date(), settings):
        if at < end:
            return max(start, at)
    raise ValueError("no HVPS working day in three weeks: check WANGYIN_CLEARING_HOLIDAYS")
