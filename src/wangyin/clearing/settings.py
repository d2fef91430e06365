"""The clearing network's figures, which change over time (payment-systems.md marks them
configurable): WANGYIN_CLEARING_* environment variables, these defaults."""

from __future__ import annotations

from functools import cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class ClearingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WANGYIN_CLEARING_", extra="ignore")

    # HVPS takes business on working days from 20:30 of the previous calendar day to the
    # 17:15 cut-off (Asia/Shanghai); holidays are extra closed days (YYYY-MM-DD, comma-separated).
    hvps_opens: str = "20:30"
    hvps_cutoff: str = "17:15"
    holidays: str = ""
    # Per-item ceilings (minor units, CNY): 5万 each by default.
    beps_ceiling_minor: int = 5_000_000
    ibps_ceiling_minor: int = 5_000_000
    beps_batch_minutes: int = 5
    # 普通到账 is sent this long after the debit; 次日到账 at this time of the next day.
    normal_delay_minutes: int = 120
    next_day_at: str = "09:00"
    # The simulated receiving bank returns a name mismatch this many days after settling.
    return_days: int = 2
    # How long the send waits for the network's answer before it counts as unknown.
    send_timeout_seconds: float = 5.0
    # Where the simulator writes its daily statements (one file per system per day).
    statement_dir: str = "var/clearing"
    # The simulator's switches (tests, drills): slow answers, refusal to connect, answers
    # lost after the network has taken the item.
    sim_delay_seconds: float = 0.0
    sim_unavailable: bool = False
    sim_lose_answers: bool = False


@cache
def clearing_settings() -> ClearingSettings:
    return ClearingSettings()
