from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from wangyin.text import NameText, SealedText, Text


class AliasCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: Text = Field(min_length=1, max_length=40, description="The account to receive")
    channel: Literal["sms", "voice"] = "sms"


class AliasIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: Text = Field(min_length=1, max_length=40)
    code: SealedText = Field(description="The code texted to the reserved mobile")


class AliasOut(BaseModel):
    id: str
    mobile: str
    account_id: str
    account_number: str
    created_at: datetime


class MobileLookupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mobile: Text = Field(min_length=1, max_length=20)


class MobilePayeeOut(BaseModel):
    masked_name: str
    bank_name: str
    account_number: str = Field(description="Masked; empty for an alias at another bank")
    bank_code: str = Field(default="", description="Another bank's 12-digit code")
    via: Literal["bank", "ibps"] = Field(
        default="bank",
        description="bank: an alias at this bank (an internal transfer); ibps: at another "
        "bank, paid by an inter-bank IBPS transfer (real time)",
    )


class MobileTransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_account_id: Text = Field(min_length=1, max_length=40)
    to_mobile: Text = Field(min_length=11, max_length=20)
    name_check: NameText = Field(
        min_length=1, max_length=50, description="The payee's surname or given name"
    )
    amount: Text = Field(min_length=1, max_length=40)
    currency: Text = Field(default="CNY", min_length=3, max_length=3)
    remark: NameText = Field(default="", max_length=50)
