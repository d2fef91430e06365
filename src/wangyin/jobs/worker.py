"""The worker loop: outbox delivery and housekeeping; scheduled jobs join it as they arrive."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from wangyin.clock import Clock, SystemClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.gateways.messages import DevMessageGateway, HttpMessageGateway, MessageGateway
from wangyin.notify.tasks import deliver_pending
from wangyin.security import channel
from wangyin.uow import run_write

log = logging.getLogger(__name__)


def message_gateway(settings: Settings) -> MessageGateway:
    if settings.sms_gateway_url:
        return HttpMessageGateway(
            settings.sms_gateway_url, settings.sms_gateway_user, settings.sms_gateway_password
        )
    if settings.env != "dev":
        raise RuntimeError("production needs WANGYIN_SMS_GATEWAY_URL for SMS and voice")
    return DevMessageGateway()


def run(
    settings: Settings,
    *,
    db: Database | None = None,
    clock: Clock | None = None,
    stop: threading.Event | None = None,
    interval: float = 0.5,
) -> None:
    db = db or Database(settings.database_url)
    clock = clock or SystemClock()
    stop = stop or threading.Event()
    gateway = message_gateway(settings)
    log.info("worker started")
    next_purge = clock.now()
    while not stop.is_set():
        try:
            deliver_pending(db, gateway, now=clock.now())
            if clock.now() >= next_purge:
                # Expired channel keys and keyboard layouts have no use left: drop them.
                now = clock.now()
                run_write(db, lambda s, now=now: channel.purge(s, at=now))
                next_purge = now + timedelta(minutes=10)
        except Exception:
            log.exception("worker step failed; retrying")
        stop.wait(interval)
