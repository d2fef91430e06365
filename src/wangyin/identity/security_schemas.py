from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from wangyin.text import SealedText, Text


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceOut(BaseModel):
    id: str
    label: str
    bound_at: datetime
    last_seen_at: datetime


class LoginOut(BaseModel):
    at: datetime
    client_type: str
    ip: str
    os_version: str
    user_agent: str
    device_bound: bool


class LimitsOut(BaseModel):
    currency: str = "CNY"
    single_limit: str
    daily_limit: str
    bank_single_max: str
    bank_daily_max: str
    password_free_single: str
    password_free_daily: str
    password_free_single_max: str
    password_free_daily_max: str
    # A transfer in another currency counts against these CNY limits at these rates
    # (CNY per one unit), rounded up (issue 11 #5).
    cny_rates: dict[str, str] = {}


class SecurityOut(BaseModel):
    freeze: Literal["none", "transfers", "all"]
    limits: LimitsOut
    devices: list[DeviceOut]
    recent_logins: list[LoginOut]


_STEP_UP = "Code from POST /security/code; needed only when a value goes up"


class LimitsIn(_In):
    single_limit: Text = Field(max_length=30, description="Decimal string, CNY")
    daily_limit: Text = Field(max_length=30)
    code: SealedText | None = Field(default=None, description=_STEP_UP)


class PasswordFreeIn(_In):
    single: Text = Field(max_length=30, description='"0" turns password-free payments off')
    daily: Text = Field(max_length=30)
    code: SealedText | None = Field(default=None, description=_STEP_UP)


class FreezeIn(_In):
    scope: Literal["transfers", "all"]


class CodeIn(_In):
    channel: Literal["sms", "voice"] = "sms"


class UnfreezeIn(_In):
    code: SealedText


class TransactionPasswordIn(_In):
    old_transaction_password: SealedText
    new_transaction_password: SealedText


class OperationOut(BaseModel):
    at: datetime
    event: str
    outcome: str
    ip: str
    device_id: str
    client: str
    details: dict[str, object]
