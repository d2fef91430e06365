"""Per-session application-layer encryption of sensitive fields (4.1.2.2-b, 4.1.2.1-e)
and the one-time soft-keyboard layouts (4.3.1.5).

Handshake: the client sends an ephemeral public key (P-256 or SM2, 65-byte uncompressed
point); the server answers with its own ephemeral key and a key id (`kid`). Both sides
take the ECDH shared secret (the x coordinate, 32 bytes), and derive

    key = HKDF-SHA256(ikm=shared_x, salt=none, info=b"wangyin channel v1|" + kid, L)

with L = 32 (AES-256-GCM, suite P256-AESGCM) or 16 (SM4-GCM, suite SM2-SM4GCM). The
server keeps the key encrypted at rest (`EncryptedString`), never its private key.

Envelope: {"kid", "ctr", "ct": base64(nonce(12) || ciphertext || tag(16))}, associated
data f"{kid}|{ctr}|{field}". A channel accepts a counter only when it is above the
highest one it has accepted (`UPDATE … WHERE last_counter < :ctr`, its own transaction),
so a replayed envelope fails, and an envelope only decrypts under the channel (and for
the field) it was made for.

Sessions (4.1.2.2-b, issue 11 #14): a channel opened by a logged-in caller belongs to that
login session (`session_hash`, the SHA-256 of its token). An authenticated call passes its
session token to `reveal_many`, which then opens only envelopes of that session's own
channels: a stranger's anonymous channel, another customer's, or one from an earlier login
of the same customer is `channel_invalid`. So after login a client opens a new channel, and
so after every new login. Anonymous calls (login, registration, password reset) pass no
token and take any live channel.

Soft keyboard: a layout is a random permutation of the ten digits, kept server-side
under an id, single use and short-lived. A PIN field's envelope may carry
{"keyboard": id, "positions": [...]} instead of the digits; the server maps the positions
through the layout and marks it used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import BigInteger, DateTime, String, delete, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from wangyin.clock import as_utc
from wangyin.db import Base
from wangyin.errors import DomainError
from wangyin.security.crypto import (
    Aead,
    CryptoError,
    aead_decrypt,
    aead_encrypt,
    hkdf,
    p256_keypair,
    p256_shared_secret,
    sm2_ecdh,
    sm2_keypair,
)
from wangyin.security.fields import EncryptedString
from wangyin.uow import run_read, run_write

if TYPE_CHECKING:
    from wangyin.clock import Clock
    from wangyin.config import Settings
    from wangyin.db import Database

Suite = Literal["P256-AESGCM", "SM2-SM4GCM"]
SUITES: tuple[Suite, ...] = ("P256-AESGCM", "SM2-SM4GCM")
SUITE_AEAD: dict[Suite, Aead] = {"P256-AESGCM": "AES-GCM", "SM2-SM4GCM": "SM4-GCM"}
SUITE_KEY_BYTES: dict[Suite, int] = {"P256-AESGCM": 32, "SM2-SM4GCM": 16}
INFO_PREFIX = b"wangyin channel v1|"
MAX_COUNTER = 2**53 - 1  # the largest integer JavaScript numbers hold exactly
KEYBOARD_DIGITS = "0123456789"
MAX_PIN_POSITIONS = 16
MAX_REVEALED_LENGTH = 200

# Fields whose envelope may carry soft-keyboard positions instead of the digits.
PIN_FIELDS = frozenset(
    {
        "transaction_password",
        "old_transaction_password",
        "new_transaction_password",
        "old_pin",
        "new_pin",
        "new_pin_again",
    }
)


class Channel(Base):
    __tablename__ = "channels"

    kid: Mapped[str] = mapped_column(String(40), primary_key=True)
    suite: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(EncryptedString("channel_key"))
    last_counter: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # The login session the channel belongs to (SHA-256 of its token), when it was opened
    # by a logged-in caller; None for the anonymous channels of login and registration.
    session_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class KeyboardLayout(Base):
    __tablename__ = "keyboard_layouts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    digits: Mapped[str] = mapped_column(EncryptedString("keyboard_layout"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Envelope(BaseModel):
    """One sensitive field, encrypted under a channel key."""

    model_config = ConfigDict(extra="forbid")

    kid: str = Field(min_length=1, max_length=40, description="The channel's key id")
    ctr: int = Field(
        ge=1, le=MAX_COUNTER, description="Above every counter this channel accepted before"
    )
    ct: str = Field(
        min_length=1,
        max_length=2048,
        description='base64(nonce(12) || ciphertext || tag(16)), AAD "{kid}|{ctr}|{field}"',
    )


Sealed = Envelope | str

SEALED_DOC = (
    "A sensitive value: an encrypted-field envelope {kid, ctr, ct} (docs/api.md); a plain "
    "string only when the bank runs with channel_encryption=optional"
)
# Schema field types: an envelope, or (where allowed) the plain string.
SealedText = Annotated[
    Envelope | Annotated[str, StringConstraints(min_length=1, max_length=128)],
    Field(description=SEALED_DOC),
]


class ChannelState(Protocol):
    """What `reveal` needs from the application (web.context.AppState has it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    @property
    def clock(self) -> Clock: ...


# --- handshake --------------------------------------------------------------------------


@dataclass(frozen=True)
class Opened:
    kid: str
    suite: Suite
    server_public_key: bytes
    expires_at: datetime


def derive_key(suite: Suite, shared_secret: bytes, kid: str) -> bytes:
    return hkdf(shared_secret, info=INFO_PREFIX + kid.encode(), length=SUITE_KEY_BYTES[suite])


def agree(suite: Suite, client_public_key: bytes, kid: str) -> tuple[bytes, bytes]:
    """(server public key, channel key) for a client's ephemeral public key."""
    if len(client_public_key) != 65 or client_public_key[0] != 4:
        raise CryptoError("the public key must be a 65-byte uncompressed point")
    if suite == "P256-AESGCM":
        private, public = p256_keypair()
        shared = p256_shared_secret(private, client_public_key)
    else:
        sm2_private, public = sm2_keypair()
        shared = sm2_ecdh(sm2_private, client_public_key)
    return public, derive_key(suite, shared, kid)


def session_binding(token: str) -> str:
    """What a channel stores of the login session it belongs to: SHA-256 of its token."""
    return hashlib.sha256(token.encode()).hexdigest()


def open_channel(
    session: Session,
    *,
    suite: Suite,
    client_public_key: bytes,
    at: datetime,
    ttl_seconds: int,
    session_token: str | None = None,
) -> Opened:
    """A new channel; with `session_token` (a live login session's, checked by the
    caller) it belongs to that session."""
    kid = secrets.token_urlsafe(18)
    try:
        public, key = agree(suite, client_public_key, kid)
    except CryptoError:
        raise DomainError("channel_key_invalid") from None
    expires_at = as_utc(at) + timedelta(seconds=ttl_seconds)
    session.add(
        Channel(
            kid=kid,
            suite=suite,
            key=base64.b64encode(key).decode(),
            last_counter=0,
            created_at=as_utc(at),
            expires_at=expires_at,
            session_hash=session_binding(session_token) if session_token else None,
        )
    )
    return Opened(kid=kid, suite=suite, server_public_key=public, expires_at=expires_at)


# --- envelopes --------------------------------------------------------------------------


def aad(kid: str, ctr: int, field: str) -> bytes:
    return f"{kid}|{ctr}|{field}".encode()


def seal(suite: Suite, key: bytes, *, kid: str, ctr: int, field: str, plaintext: str) -> Envelope:
    """What a client does (tests and `wangyin.client` use it)."""
    blob = aead_encrypt(SUITE_AEAD[suite], key, plaintext.encode(), aad(kid, ctr, field))
    return Envelope(kid=kid, ctr=ctr, ct=base64.b64encode(blob).decode())


@dataclass(frozen=True)
class _ChannelKey:
    suite: Suite
    key: bytes
    session_hash: str | None


def _load_key(session: Session, kid: str, at: datetime) -> _ChannelKey | None:
    row = session.get(Channel, kid)
    if row is None or as_utc(row.expires_at) <= as_utc(at) or row.suite not in SUITES:
        return None
    suite: Suite = "P256-AESGCM" if row.suite == "P256-AESGCM" else "SM2-SM4GCM"
    return _ChannelKey(suite=suite, key=base64.b64decode(row.key), session_hash=row.session_hash)


def _open(channel: _ChannelKey, kid: str, envelope: Envelope, field: str) -> str:
    try:
        blob = base64.b64decode(envelope.ct, validate=True)
        clear = aead_decrypt(
            SUITE_AEAD[channel.suite], channel.key, blob, aad(kid, envelope.ctr, field)
        )
        return clear.decode("utf-8")
    except (CryptoError, binascii.Error, ValueError):
        raise DomainError("channel_invalid") from None


def _advance(session: Session, *, kid: str, lowest: int, highest: int, at: datetime) -> None:
    """Accept counters lowest..highest: only when all are above the last accepted one."""
    result = session.execute(
        update(Channel)
        .where(
            Channel.kid == kid,
            Channel.last_counter < lowest,
            Channel.expires_at > as_utc(at),
        )
        .values(last_counter=highest)
    )
    if int(getattr(result, "rowcount", 0) or 0) != 1:
        raise DomainError("channel_replay")


def reveal_many(
    state: ChannelState,
    values: Mapping[str, Sealed | None],
    *,
    session_token: str | None = None,
) -> dict[str, str | None]:
    """The clear values of sensitive fields: envelopes are opened (and their counters
    consumed, one small transaction per channel); plain strings pass only when the
    settings allow them (`channel_encryption = "optional"`) or are empty.

    An authenticated call passes its `session_token` (bearer token or session cookie):
    then every envelope must come from a channel of that very session (`channel_invalid`
    otherwise). Anonymous calls pass none."""
    at = state.clock.now()
    expected_session = session_binding(session_token) if session_token is not None else None
    required = state.settings.channel_encryption == "required"
    clear: dict[str, str | None] = {}
    by_kid: dict[str, list[tuple[str, Envelope]]] = {}
    for field, value in values.items():
        if value is None or isinstance(value, str):
            if required and value:
                raise DomainError("channel_required")
            clear[field] = value
        else:
            by_kid.setdefault(value.kid, []).append((field, value))
    for kid, sealed in by_kid.items():
        channel = run_read(state.db, partial(_load_key, kid=kid, at=at))
        if channel is None:
            raise DomainError("channel_invalid")
        if expected_session is not None and (
            channel.session_hash is None
            or not secrets.compare_digest(channel.session_hash, expected_session)
        ):
            raise DomainError("channel_invalid")  # another session's, or nobody's
        counters = [envelope.ctr for _, envelope in sealed]
        if len(set(counters)) != len(counters):
            raise DomainError("channel_replay")
        for field, envelope in sealed:
            clear[field] = _open(channel, kid, envelope, field)
        low, high = min(counters), max(counters)
        run_write(state.db, partial(_advance, kid=kid, lowest=low, highest=high, at=at))
    for field in list(clear):
        text = clear[field]
        if text is None:
            continue
        if field in PIN_FIELDS:
            positions = _keyboard_positions(text)
            if positions is not None:
                layout_id, taps = positions
                text = run_write(
                    state.db, partial(resolve_keyboard, layout_id=layout_id, positions=taps, at=at)
                )
        if len(text) > MAX_REVEALED_LENGTH:
            raise DomainError("validation_error")
        clear[field] = text
    return clear


def reveal(
    state: ChannelState, value: Sealed, *, field: str, session_token: str | None = None
) -> str:
    """One sensitive field's clear value (see `reveal_many`)."""
    return reveal_many(state, {field: value}, session_token=session_token)[field] or ""


# --- soft keyboard ----------------------------------------------------------------------


@dataclass(frozen=True)
class Keyboard:
    id: str
    digits: list[int]
    expires_at: datetime


def issue_keyboard(session: Session, *, at: datetime, ttl_seconds: int) -> Keyboard:
    """A new one-time layout: the ten digits in an order from the CSPRNG."""
    digits = list(KEYBOARD_DIGITS)
    secrets.SystemRandom().shuffle(digits)
    layout_id = secrets.token_urlsafe(18)
    expires_at = as_utc(at) + timedelta(seconds=ttl_seconds)
    session.add(
        KeyboardLayout(
            id=layout_id,
            digits="".join(digits),
            created_at=as_utc(at),
            expires_at=expires_at,
            used_at=None,
        )
    )
    return Keyboard(id=layout_id, digits=[int(d) for d in digits], expires_at=expires_at)


def _keyboard_positions(text: str) -> tuple[str, list[int]] | None:
    if not text.startswith("{"):
        return None
    try:
        raw: Any = json.loads(text)
    except ValueError:
        return None
    if not isinstance(raw, dict) or "keyboard" not in raw:
        return None
    layout_id, positions = raw.get("keyboard"), raw.get("positions")
    if (
        set(raw) != {"keyboard", "positions"}
        or not isinstance(layout_id, str)
        or not isinstance(positions, list)
        or not 1 <= len(positions) <= MAX_PIN_POSITIONS
        or not all(type(p) is int and 0 <= p <= 9 for p in positions)
    ):
        raise DomainError("validation_error")
    return layout_id, positions


def resolve_keyboard(
    session: Session, *, layout_id: str, positions: list[int], at: datetime
) -> str:
    """The digits typed on a layout; the layout is used up (single use, even on error)."""
    result = session.execute(
        update(KeyboardLayout)
        .where(
            KeyboardLayout.id == layout_id[:40],
            KeyboardLayout.used_at.is_(None),
            KeyboardLayout.expires_at > as_utc(at),
        )
        .values(used_at=as_utc(at))
    )
    if int(getattr(result, "rowcount", 0) or 0) != 1:
        raise DomainError("keyboard_expired")
    layout = session.get_one(KeyboardLayout, layout_id).digits
    return "".join(layout[p] for p in positions)


def purge(session: Session, *, at: datetime) -> int:
    """Delete expired channels and keyboard layouts (housekeeping)."""
    now = as_utc(at)
    removed = 0
    for model in (Channel, KeyboardLayout):
        result = session.execute(delete(model).where(model.expires_at <= now))
        removed += int(getattr(result, "rowcount", 0) or 0)
    return removed
