"""SMS and voice delivery: an interface, the dev gateway and an HTTP provider adapter."""

from __future__ import annotations

import logging
from typing import Protocol

import httpx

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """The provider did not accept the message; the worker retries later."""


class MessageGateway(Protocol):
    #: Keep delivered bodies readable in the outbox (dev inbox only).
    keeps_bodies: bool

    def send(self, *, channel: str, phone: str, text: str, message_id: str = "") -> None:
        """Hand one message to the provider; `message_id` (the outbox row's public id) is
        its idempotency key, the same on every attempt."""


class DevMessageGateway:
    """Delivers nowhere: the message stays readable in the dev inbox (WANGYIN_ENV=dev)."""

    keeps_bodies = True

    def send(self, *, channel: str, phone: str, text: str, message_id: str = "") -> None:
        log.info("dev gateway: %s message delivered to the dev inbox", channel)


class HttpMessageGateway:
    """POSTs {id, channel, to, text} as JSON to a provider URL with HTTP basic credentials;
    the id is also sent as `Idempotency-Key`: a resend after a crash is the same message."""

    keeps_bodies = False

    def __init__(self, url: str, username: str, password: str, timeout: float = 10.0) -> None:
        self._client = httpx.Client(timeout=timeout, auth=(username, password))
        self._url = url

    def send(self, *, channel: str, phone: str, text: str, message_id: str = "") -> None:
        try:
            response = self._client.post(
                self._url,
                json={"id": message_id, "channel": channel, "to": phone, "text": text},
                headers={"Idempotency-Key": message_id} if message_id else None,
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(type(exc).__name__) from None
        if response.status_code >= 300:
            raise DeliveryError(f"provider answered {response.status_code}")
