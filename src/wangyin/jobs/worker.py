"""The worker loop: outbox delivery now; scheduled jobs join it as they arrive."""

from __future__ import annotations

import logging
import threading

from wangyin.clock import Clock, SystemClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.gateways.messages import DevMessageGateway, HttpMessageGateway, MessageGateway
from wangyin.notify.tasks import deliver_pending

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
    while not stop.is_set():
        try:
            deliver_pending(db, gateway, now=clock.now())
        except Exception:
            log.exception("outbox delivery failed; retrying")
        stop.wait(interval)
