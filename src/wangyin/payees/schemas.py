from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from wangyin.text import NameText, Text


class PayeeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: NameText = Field(min_length=1, max_length=50, description="The account holder's name")
    account_number: Text = Field(
        min_length=8, max_length=40, description="Account or card number (digits, spaces allowed)"
    )
    nickname: NameText = Field(default="", max_length=50)
    limit: Text | None = Field(
        default=None,
        max_length=40,
        description='Per-transfer ceiling to this payee in CNY, e.g. "5000.00"; null: none',
    )


class PayeeFromTransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transfer_id: Text = Field(min_length=1, max_length=40)
    nickname: NameText = Field(default="", max_length=50)


class PayeeUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nickname: NameText = Field(default="", max_length=50)
    limit: Text | None = Field(default=None, max_length=40)


class PayeeOut(BaseModel):
    id: str
    name: str
    account_number: str
    masked_number: str
    nickname: str
    limit: str | None
    initials: str
    source: str
    last_paid_at: datetime | None
    created_at: datetime


class RecentPayeeOut(BaseModel):
    transfer_id: str
    name: str
    account_number: str
    masked_number: str
    saved: bool
