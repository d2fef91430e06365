"""Delivering the outbox. Many workers may run: rows are claimed with SKIP LOCKED.

One message per transaction: the row stays locked while the provider is called and is
marked sent in the same transaction, so a worker killed mid-delivery leaves at most that
one message to be sent again by another worker (its lock dies with the connection). That
one goes again under its own public id as the provider's idempotency key, so a provider
that already took it does not deliver it twice (tests/integration/test_worker_kill.py).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from wangyin.db import Database
from wangyin.gateways.messages import DeliveryError, MessageGateway
from wangyin.notify.models import OutboxMessage
from wangyin.notify.service import body_of, recipient_of
from wangyin.observability.metrics import DELIVERED_KEY
from wangyin.uow import run_write

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


def _deliver_one(session: Session, *, gateway: MessageGateway, now: datetime) -> bool | None:
    """Send the oldest due message nobody else holds: True sent, False refused (retried
    later), None when nothing is due."""
    message = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).first()
    if message is None:
        return None
    message.attempts += 1
    try:
        gateway.send(
            channel=message.channel,
            phone=recipient_of(message),
            text=body_of(message),
            message_id=message.public_id,
        )
    except DeliveryError as exc:
        message.last_error = str(exc)[:200]
        if message.attempts >= MAX_ATTEMPTS:
            message.status = "failed"
        else:
            message.next_attempt_at = now + timedelta(seconds=2**message.attempts)
        return False
    message.status = "sent"
    message.sent_at = now
    # Its delivery latency is observed once this transaction commits (metrics).
    session.info.setdefault(DELIVERED_KEY, []).append((message.channel, message.created_at, now))
    if not gateway.keeps_bodies:
        message.body = ""  # a delivered code has no business staying in the database
    return True


def deliver_pending(
    db: Database, gateway: MessageGateway, *, now: datetime, batch: int = 50
) -> int:
    """Send up to `batch` due messages, each in its own transaction; returns how many
    were sent. At-least-once: a crash between the provider's acceptance and our commit
    sends that one message again, with the same idempotency key."""
    sent = 0
    for _ in range(batch):
        outcome = run_write(db, partial(_deliver_one, gateway=gateway, now=now))
        if outcome is None:
            break
        sent += outcome
    return sent
