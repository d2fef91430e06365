"""Delivering the outbox. Many workers may run: rows are claimed with SKIP LOCKED."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from wangyin.db import Database
from wangyin.gateways.messages import DeliveryError, MessageGateway
from wangyin.notify.models import OutboxMessage
from wangyin.notify.service import body_of, recipient_of
from wangyin.uow import run_write

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


def deliver_pending(
    db: Database, gateway: MessageGateway, *, now: datetime, batch: int = 50
) -> int:
    """Send what is due; returns how many were sent. At-least-once: a crash between the
    provider's acceptance and our commit sends that message again."""

    def action(session: Session) -> int:
        due = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        sent = 0
        for message in due:
            message.attempts += 1
            try:
                gateway.send(
                    channel=message.channel, phone=recipient_of(message), text=body_of(message)
                )
            except DeliveryError as exc:
                message.last_error = str(exc)[:200]
                if message.attempts >= MAX_ATTEMPTS:
                    message.status = "failed"
                else:
                    message.next_attempt_at = now + timedelta(seconds=2**message.attempts)
                continue
            message.status = "sent"
            message.sent_at = now
            if not gateway.keeps_bodies:
                message.body = ""  # a delivered code has no business staying in the database
            sent += 1
        return sent

    return run_write(db, action)
