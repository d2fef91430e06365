from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=200)


class RegisterIn(Strict):
    name: str = Field(min_length=1, max_length=50)
    id_number: str = Field(min_length=1, max_length=30)
    mobile: str = Field(min_length=1, max_length=20)
    card_number: str = Field(min_length=1, max_length=30)
    username: str = Field(min_length=1, max_length=40)
    password: str = Field(min_length=1, max_length=128)
    transaction_password: str = Field(
        min_length=1, max_length=16, description="Six digits, asked when confirming transfers"
    )


class RegisterOut(BaseModel):
    user_id: str
    username: str
    edition: str


class LoginIn(Strict):
    login: str = Field(min_length=1, max_length=40, description="Login name or mobile number")
    password: str = Field(min_length=1, max_length=128)


class LoginOut(BaseModel):
    status: Literal["authenticated", "challenge_required"]
    token: str | None = None
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type name, not a secret
    expires_at: datetime | None = None
    challenge_id: str | None = Field(
        default=None, description="Send a code for it, then verify it to finish logging in"
    )
    reasons: list[str] = Field(default_factory=list, description="night and/or new_device")
    user_id: str
    edition: str


Channel = Literal["sms", "voice"]


class ChallengeCodeIn(Strict):
    challenge_id: str = Field(min_length=1, max_length=40)
    channel: Channel = "sms"


class ChallengeVerifyIn(Strict):
    challenge_id: str = Field(min_length=1, max_length=40)
    code: str = Field(min_length=1, max_length=10)
    id_number: str | None = Field(
        default=None, max_length=30, description="Required when binding a new device"
    )


class ChangePasswordIn(Strict):
    old_password: str = Field(min_length=1, max_length=128)
    new_password: str = Field(min_length=1, max_length=128)


class ResetStartIn(Strict):
    id_number: str = Field(min_length=1, max_length=30)
    card_number: str = Field(min_length=1, max_length=30)
    channel: Channel = "sms"


class ResetStartOut(BaseModel):
    challenge_id: str


class ResetFinishIn(Strict):
    challenge_id: str = Field(min_length=1, max_length=40)
    code: str = Field(min_length=1, max_length=10)
    new_password: str = Field(min_length=1, max_length=128)


class MeOut(BaseModel):
    user_id: str
    customer_id: str
    username: str
    name: str
    edition: str
    freeze: str
