"""Queue a message in the same transaction as the action that causes it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from wangyin.db import defer_write, table_of
from wangyin.ids import new_public_id
from wangyin.notify.models import OutboxMessage
from wangyin.security.fields import decrypt_value, encrypt_value, lookup_hash

CHANNELS = ("sms", "voice")


def enqueue(
    session: Session, *, channel: str, phone: str, text: str, purpose: str, at: datetime
) -> OutboxMessage:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    public_id = new_public_id()
    message = OutboxMessage(
        public_id=public_id,
        channel=channel,
        # Bound to the row's public id: a copied value does not decrypt (issue 11 #9).
        recipient=encrypt_value("outbox_recipient", phone, row=public_id),
        recipient_lookup=lookup_hash(phone),
        body=encrypt_value("outbox_body", text, row=public_id),
        purpose=purpose,
        status="pending",
        attempts=0,
        created_at=at,
        next_attempt_at=at,
    )
    session.add(message)
    session.flush()
    return message


def outbox_row(
    *, channel: str, phone: str, text: str, purpose: str, at: datetime
) -> dict[str, object]:
    """One outbox row as column values, for `enqueue_many` on hot paths."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    public_id = new_public_id()
    return {
        "public_id": public_id,
        "channel": channel,
        "recipient": encrypt_value("outbox_recipient", phone, row=public_id),
        "recipient_lookup": lookup_hash(phone),
        "body": encrypt_value("outbox_body", text, row=public_id),
        "purpose": purpose,
        "status": "pending",
        "attempts": 0,
        "last_error": "",
        "created_at": at,
        "next_attempt_at": at,
    }


_INSERT_MESSAGES = insert(table_of(OutboxMessage))


def enqueue_many(session: Session, rows: list[dict[str, object]]) -> None:
    """Several messages in one INSERT, in the caller's transaction."""
    for row in rows:  # trailing writes of the caller's transaction (db.defer_write)
        defer_write(session, _INSERT_MESSAGES, row)


def recipient_of(message: OutboxMessage) -> str:
    return decrypt_value("outbox_recipient", message.recipient, row=message.public_id)


def body_of(message: OutboxMessage) -> str:
    if not message.body:
        return ""
    return decrypt_value("outbox_body", message.body, row=message.public_id)


def messages_to(session: Session, *, phone: str, limit: int = 20) -> list[OutboxMessage]:
    """Newest first: the dev inbox for one phone number."""
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.recipient_lookup == lookup_hash(phone))
            .order_by(OutboxMessage.id.desc())
            .limit(limit)
        )
    )
