from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from wangyin.text import NameText, SealedText, Text


class TransferPrepareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_account_id: Text = Field(min_length=1, max_length=40)
    to_account_number: Text = Field(
        min_length=1, max_length=30, description="Payee account number or debit-card number"
    )
    payee_name: NameText = Field(min_length=1, max_length=50)
    amount: Text = Field(
        min_length=1, max_length=40, description='Decimal string in major units, e.g. "1234.56"'
    )
    currency: Text = Field(min_length=3, max_length=3)
    remark: NameText = Field(default="", max_length=50)


class TransferConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key_digest: Text | None = Field(
        default=None,
        max_length=64,
        description="The key_digest the customer was shown; a mismatch refuses confirmation",
    )
    transaction_password: SealedText | None = Field(
        default=None, description="Six digits; not needed for password-free"
    )
    code: SealedText | None = Field(
        default=None,
        description="The code from POST /transfers/{id}/code, bound to this transfer's data",
    )
    acknowledge_warnings: bool = Field(
        default=False,
        description="True when the customer has read the transfer's `warnings` "
        "(large_amount, new_payee); needed to confirm a transfer that has any",
    )


class TransferCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["sms", "voice"] = "sms"


class TransferOut(BaseModel):
    id: str
    status: str
    from_account_id: str
    from_account_number: str
    to_account_number: str
    payee_name: str
    amount: str
    currency: str
    remark: str
    created_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None
    key_digest: str
    second_factor_required: bool
    warnings: list[str] = Field(
        default_factory=list,
        description="To acknowledge before confirming: large_amount (the day's transfers "
        "pass the large-transfer threshold), new_payee (a large first payment to this payee)",
    )
