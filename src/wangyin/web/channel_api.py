"""JSON API of the secure channel (4.1.2.2-b) and the soft keyboard (4.3.1.5): no login
needed, rate limited per IP (security.ratelimit's "channel" rule). A handshake that carries
a live login session (bearer token, or the web session cookie) opens a channel belonging to
that session: what authenticated calls require (security.channel)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from wangyin.errors import DomainError
from wangyin.identity import service as identity
from wangyin.security import channel
from wangyin.uow import run_write
from wangyin.web.context import SESSION_COOKIE, State, bearer_token

router = APIRouter(tags=["secure channel"])


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    suite: channel.Suite = Field(
        description="P256-AESGCM (ECDH P-256, AES-256-GCM) or SM2-SM4GCM (ECDH on SM2, SM4-GCM)"
    )
    client_public_key: str = Field(
        min_length=1,
        max_length=200,
        description="base64 of the client's ephemeral public key, 65-byte uncompressed point",
    )


class ChannelOut(BaseModel):
    kid: str
    server_public_key: str = Field(description="base64, 65-byte uncompressed point")
    suite: channel.Suite
    expires_at: datetime


class KeyboardOut(BaseModel):
    id: str
    digits: list[int] = Field(description="The ten digits in the order the keys are shown")
    expires_at: datetime


@router.post("/channel", status_code=201, response_model=ChannelOut)
def open_channel(body: ChannelIn, request: Request, state: State) -> ChannelOut:
    """Agree a key for encrypting sensitive fields (see docs/api.md). Logged in (bearer
    token or session cookie), the channel belongs to this login session: open one after
    login, and again after every new login."""
    try:
        client_key = base64.b64decode(body.client_public_key, validate=True)
    except (binascii.Error, ValueError):
        raise DomainError("channel_key_invalid") from None
    now = state.clock.now()
    token = bearer_token(request) or request.cookies.get(SESSION_COOKIE) or None

    def action(s: Session) -> channel.Opened:
        # A token that is no live session (expired, ended, made up) opens an anonymous
        # channel, as if none were sent: the login page still works with a stale cookie.
        live = token is not None and (
            identity.resolve_session(s, token=token, at=now, settings=state.settings) is not None
        )
        return channel.open_channel(
            s,
            suite=body.suite,
            client_public_key=client_key,
            at=now,
            ttl_seconds=state.settings.channel_ttl_seconds,
            session_token=token if live else None,
        )

    opened = run_write(state.db, action)
    return ChannelOut(
        kid=opened.kid,
        server_public_key=base64.b64encode(opened.server_public_key).decode(),
        suite=opened.suite,
        expires_at=opened.expires_at,
    )


@router.post("/keyboard", status_code=201, response_model=KeyboardOut)
def new_keyboard(state: State) -> KeyboardOut:
    """A one-time soft-keyboard layout for a transaction password."""
    now = state.clock.now()
    board = run_write(
        state.db,
        lambda s: channel.issue_keyboard(
            s, at=now, ttl_seconds=state.settings.keyboard_ttl_seconds
        ),
    )
    return KeyboardOut(id=board.id, digits=board.digits, expires_at=board.expires_at)
