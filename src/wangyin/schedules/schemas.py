from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from wangyin.text import NameText, SealedText, Text


class ScheduleIn(BaseModel):
    """A scheduled (once) or recurring (weekly, monthly) transfer; times are bank time
    (Asia/Shanghai). A weekly one runs on the first date's weekday, a monthly one on its
    day of the month (the last day in shorter months)."""

    model_config = ConfigDict(extra="forbid")

    from_account_id: Text = Field(min_length=1, max_length=40)
    to_account_number: Text = Field(min_length=1, max_length=30)
    payee_name: NameText = Field(min_length=1, max_length=50)
    amount: Text = Field(min_length=1, max_length=40, description='e.g. "1234.56"')
    remark: NameText = Field(default="", max_length=50)
    frequency: Literal["once", "weekly", "monthly"] = "once"
    start_date: Text = Field(min_length=10, max_length=10, description="YYYY-MM-DD")
    start_time: Text = Field(default="09:00", min_length=4, max_length=5, description="HH:MM")
    end_date: Text | None = Field(
        default=None, max_length=10, description="Recurring: the last day a run may fall on"
    )
    max_runs: int | None = Field(default=None, ge=1, le=120, description="Recurring: how many")


class ScheduleConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key_digest: Text | None = Field(default=None, max_length=64)
    transaction_password: SealedText | None = None
    code: SealedText | None = Field(
        default=None, description="From POST /schedules/{id}/code, bound to the instruction"
    )


class ScheduleCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["sms", "voice"] = "sms"


class RunOut(BaseModel):
    id: str
    seq: int
    due_at: str
    status: str
    attempts: int
    reason: str
    reason_text: str
    next_attempt_at: str | None
    transfer_id: str | None
    finished_at: str | None


class ScheduleOut(BaseModel):
    id: str
    status: str
    from_account_number: str
    to_account_number: str
    payee_name: str
    amount: str
    currency: str
    remark: str
    frequency: str
    start_at: str
    day: int
    end_date: str | None
    max_runs: int | None
    runs_made: int
    next_run_at: str | None
    key_digest: str
    replaces: str | None
    created_at: str
    confirm_by: str
    confirmed_at: str | None
    runs: list[RunOut] | None = None
