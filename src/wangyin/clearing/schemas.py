from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from wangyin.text import NameText, SealedText, Text


class InterbankPrepareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_account_id: Text = Field(min_length=1, max_length=40)
    bank_code: Text = Field(
        default="",
        max_length=12,
        description="The payee bank's 12-digit code (联行号); empty: found from the card's BIN",
    )
    payee_account: Text = Field(min_length=1, max_length=40)
    payee_name: NameText = Field(min_length=1, max_length=50)
    amount: Text = Field(min_length=1, max_length=40, description='CNY, e.g. "1234.56"')
    speed: Literal["realtime", "normal", "next_day"] = Field(
        default="realtime",
        description="实时到账 realtime, 普通到账 normal (sent 2 hours later), 次日到账 next_day",
    )
    remark: NameText = Field(default="", max_length=50)


class InterbankConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key_digest: Text | None = Field(default=None, max_length=64)
    transaction_password: SealedText | None = None
    code: SealedText | None = None
    acknowledge_warnings: bool = False


class InterbankCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["sms", "voice"] = "sms"


class BankByCardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    card_number: Text = Field(min_length=6, max_length=40)


class BankOut(BaseModel):
    code: str
    bank_name: str
    branch_name: str
    city: str


class InterbankOut(BaseModel):
    id: str
    status: str
    from_account_id: str
    from_account_number: str
    bank_code: str
    bank_name: str
    payee_account: str
    payee_name: str
    amount: str
    currency: str
    remark: str
    speed: str
    system: str
    reason: str
    network_code: str
    created_at: str
    expires_at: str
    confirmed_at: str | None
    send_after: str | None
    settled_at: str | None
    revocable: bool
    key_digest: str
    second_factor_required: bool
    warnings: list[str]


class ResolveIn(BaseModel):
    """How a reconciliation difference was explained (4-300 characters, checked by the
    use case so the refusal has its own code)."""

    reason: str = Field(max_length=300)


class MismatchOut(BaseModel):
    id: int
    kind: str  # missing_ours | missing_theirs | amount | status
    reference: str  # the transfer's message id
    ours: str
    theirs: str
    resolved: bool


class ReconciliationRunOut(BaseModel):
    id: int
    day: str
    system: str  # HVPS | BEPS
    matched: int
    mismatched: int
    unresolved: int
    run_at: str
    mismatches: list[MismatchOut]
