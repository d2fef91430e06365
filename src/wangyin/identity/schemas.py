from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from wangyin.text import NameText, SealedText, Text


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=200)


class RegisterIn(Strict):
    name: NameText = Field(min_length=1, max_length=50)
    id_number: SealedText
    mobile: Text = Field(min_length=1, max_length=20)
    card_number: SealedText
    username: Text = Field(min_length=1, max_length=40)
    password: SealedText
    transaction_password: SealedText  # six digits, asked when confirming transfers
    # Declared for the AML risk level (issue 7 §3, risk.aml.OCCUPATIONS / PRODUCT_USES).
    occupation: Text | None = Field(default=None, max_length=32)
    product_use: Text | None = Field(default=None, max_length=32)


class RegisterOut(BaseModel):
    user_id: str
    username: str
    edition: str


class LoginIn(Strict):
    login: Text = Field(min_length=1, max_length=40, description="Login name or mobile number")
    password: SealedText


class LoginOut(BaseModel):
    status: Literal["authenticated", "challenge_required"]
    token: str | None = None
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type name, not a secret
    expires_at: datetime | None = None
    challenge_id: str | None = Field(
        default=None, description="Send a code for it, then verify it to finish logging in"
    )
    reasons: list[str] = Field(default_factory=list, description="night and/or new_device")
    # Only once logged in: a challenge answer names nobody (issue 11 #15), since a right
    # password alone must not tell whose account it opened.
    user_id: str | None = Field(default=None, description="Once authenticated")
    edition: str | None = Field(default=None, description="Once authenticated")
    device_credential: str | None = Field(
        default=None,
        description=(
            "Once authenticated: this device's credential. Keep it secret and send it as "
            "X-Device-Credential with the next login, which answers a new one: without it "
            "every login is a new device's"
        ),
    )


Channel = Literal["sms", "voice"]


class ChallengeCodeIn(Strict):
    challenge_id: Text = Field(min_length=1, max_length=40)
    channel: Channel = "sms"


class ChallengeVerifyIn(Strict):
    challenge_id: Text = Field(min_length=1, max_length=40)
    code: SealedText
    id_number: SealedText | None = Field(
        default=None, description="Required when binding a new device"
    )


class ChangePasswordIn(Strict):
    old_password: SealedText
    new_password: SealedText


class ResetStartIn(Strict):
    id_number: SealedText
    card_number: SealedText
    channel: Channel = "sms"


class ResetStartOut(BaseModel):
    challenge_id: str


class ResetFinishIn(Strict):
    challenge_id: Text = Field(min_length=1, max_length=40)
    code: SealedText
    new_password: SealedText


class MeOut(BaseModel):
    user_id: str
    customer_id: str
    username: str
    name: str
    edition: str
    freeze: str
