from __future__ import annotations

from datetime import datetime

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


class RegisterOut(BaseModel):
    user_id: str
    username: str
    edition: str


class LoginIn(Strict):
    login: str = Field(min_length=1, max_length=40, description="Login name or mobile number")
    password: str = Field(min_length=1, max_length=128)


class LoginOut(BaseModel):
    token: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type name, not a secret
    expires_at: datetime
    user_id: str
    edition: str


class ChangePasswordIn(Strict):
    old_password: str = Field(min_length=1, max_length=128)
    new_password: str = Field(min_length=1, max_length=128)


class MeOut(BaseModel):
    user_id: str
    customer_id: str
    username: str
    name: str
    edition: str
