from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from wangyin.text import NameText, SealedText, Text


class BatchLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_account_number: Text = Field(max_length=40)
    payee_name: NameText = Field(max_length=60)
    amount: Text = Field(max_length=40)
    remark: NameText = Field(default="", max_length=60)


class BatchIn(BaseModel):
    """Lines typed on the page or sent by a program (a file goes to /batches/upload)."""

    model_config = ConfigDict(extra="forbid")

    from_account_id: Text = Field(min_length=1, max_length=40)
    lines: list[BatchLineIn] = Field(min_length=1, max_length=5000)


class BatchConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key_digest: Text | None = Field(default=None, max_length=64)
    transaction_password: SealedText | None = None
    code: SealedText | None = Field(
        default=None, description="From POST /batches/{id}/code, bound to count, total, lines"
    )


class BatchCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["sms", "voice"] = "sms"


class BatchLineOut(BaseModel):
    seq: int
    to_account_number: str
    payee_name: str
    amount: str
    remark: str
    status: str
    reason: str
    reason_text: str
    transfer_id: str | None


class BatchOut(BaseModel):
    id: str
    status: str
    from_account_number: str
    currency: str
    filename: str
    count: int
    invalid_count: int
    total: str
    total_display: str
    completed_count: int
    failed_count: int
    pending_count: int
    key_digest: str
    created_at: str
    confirm_by: str
    confirmed_at: str | None
    finished_at: str | None
    lines: list[BatchLineOut] | None = None
