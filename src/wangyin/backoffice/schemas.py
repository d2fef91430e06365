"""Request and response bodies of the back-office API (/api/admin/v1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from wangyin.text import SealedText


class SignInIn(BaseModel):
    username: str = Field(max_length=32)
    password: str = Field(max_length=128)
    code: str = Field(default="", max_length=8)  # the authenticator's current code


class EnrolIn(BaseModel):
    enrolment_token: str = Field(max_length=100)
    code: str = Field(max_length=8)
    new_password: str = Field(max_length=64)  # replaces the one-time initial password


class SignInOut(BaseModel):
    status: Literal["signed_in", "enrolment_required"]
    token: str | None = None
    # Shown once: the authenticator's secret and its otpauth:// URI (RFC 6238 apps).
    enrolment_token: str | None = None
    totp_secret: str | None = None
    otpauth_uri: str | None = None


class MeOut(BaseModel):
    public_id: str
    username: str
    name: str
    role: str
    permissions: list[str]


class ReasonIn(BaseModel):
    reason: str = Field(max_length=300)


class ProposeIn(BaseModel):
    reason: str = Field(max_length=300)
    payload: dict[str, Any] = Field(default_factory=dict)


class CommandOut(BaseModel):
    public_id: str
    kind: str
    customer_id: str | None
    payload: dict[str, Any]
    reason: str
    status: str
    maker: str
    checker: str | None
    checker_reason: str
    created_at: datetime
    decided_at: datetime | None
    executed_at: datetime | None


class CustomerMatch(BaseModel):
    customer_id: str
    name: str
    id_number: str  # masked
    mobile: str  # masked


class ProfileOut(BaseModel):
    customer_id: str
    name: str
    id_number: str
    mobile: str
    revealed: bool
    online_banking: dict[str, Any] | None
    accounts: list[dict[str, Any]]
    devices: list[dict[str, Any]]
    logins: list[dict[str, Any]]
    operations: list[dict[str, Any]]
    commands: list[CommandOut]


class StaffIn(BaseModel):
    username: str = Field(min_length=3, max_length=32, pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$")
    name: str = Field(min_length=1, max_length=100)
    role: str


class StaffOut(BaseModel):
    public_id: str
    username: str
    name: str
    role: str
    status: str
    enrolled: bool


class NewStaffOut(BaseModel):
    public_id: str
    username: str
    initial_password: str  # shown once


class AuditOut(BaseModel):
    at: datetime
    event: str
    outcome: str
    actor: str
    details: str


class PinResetIn(BaseModel):
    """The customer finishes a counter-approved reset (sealed like every PIN and code)."""

    login: str = Field(max_length=40)
    code: SealedText
    new_pin: SealedText
