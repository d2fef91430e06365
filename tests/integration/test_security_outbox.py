"""The SMS/voice outbox and its worker (4.3.2-f notification, 4.1.5.2-b, 4.1.6-c minimal
retention): dev delivery keeps bodies for the dev inbox; a real provider's failures are
retried with backoff and delivered bodies are erased; the dev inbox exists only in dev."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import make_person
from wangyin.app import create_app
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.gateways.messages import DeliveryError, DevMessageGateway, HttpMessageGateway
from wangyin.jobs import worker
from wangyin.notify import service as notify
from wangyin.notify.models import OutboxMessage
from wangyin.notify.tasks import MAX_ATTEMPTS, deliver_pending
from wangyin.uow import run_read, run_write

PHONE = "13912345678"


class FlakyGateway:
    """A provider double: refuses the first `failures` sends, then accepts; records sends."""

    keeps_bodies = False

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[tuple[str, str, str]] = []
        self.calls = 0

    def send(self, *, channel: str, phone: str, text: str, message_id: str = "") -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise DeliveryError("provider answered 503")
        self.sent.append((channel, phone, text))


def enqueue(db: Database, at: datetime, text: str = "登录验证码 123456，60 秒内有效。") -> str:
    def action(s: Session) -> str:
        return notify.enqueue(
            s, channel="sms", phone=PHONE, text=text, purpose="login", at=at
        ).public_id

    return run_write(db, action)


def message(db: Database, public_id: str) -> OutboxMessage:
    return run_read(
        db,
        lambda s: s.scalars(
            select(OutboxMessage).where(OutboxMessage.public_id == public_id)
        ).one(),
    )


def test_outbox_dev_gateway_marks_sent_and_keeps_the_body_for_the_dev_inbox(
    db: Database, clock: FrozenClock
) -> None:
    """4.1.5.2-b: the dev gateway delivers every due message once; bodies stay readable for
    the dev inbox."""
    ids = [enqueue(db, clock.now()) for _ in range(3)]
    assert deliver_pending(db, DevMessageGateway(), now=clock.now()) == 3
    for public_id in ids:
        row = message(db, public_id)
        assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
        assert notify.body_of(row).startswith("登录验证码")
    assert deliver_pending(db, DevMessageGateway(), now=clock.now()) == 0  # exactly once


def test_outbox_provider_failures_retry_with_backoff_then_erase_the_body(
    db: Database, clock: FrozenClock
) -> None:
    """4.3.2-f, 4.1.6-c: a refused send is retried after 2 s, then 4 s (not before); once
    the provider accepts, the message is sent and its body (the code) is erased."""
    public_id = enqueue(db, clock.now())
    gateway = FlakyGateway(failures=2)
    start = clock.now()
    assert deliver_pending(db, gateway, now=start) == 0
    row = message(db, public_id)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "provider answered 503")
    assert deliver_pending(db, gateway, now=start + timedelta(seconds=1)) == 0
    assert gateway.calls == 1  # not due yet
    assert deliver_pending(db, gateway, now=start + timedelta(seconds=2)) == 0
    assert gateway.calls == 2 and message(db, public_id).attempts == 2
    assert deliver_pending(db, gateway, now=start + timedelta(seconds=5)) == 0
    assert gateway.calls == 2  # next try is 2 + 4 = 6 s after the start
    assert deliver_pending(db, gateway, now=start + timedelta(seconds=6)) == 1
    row = message(db, public_id)
    assert (row.status, row.attempts, row.body) == ("sent", 3, "")
    assert gateway.sent == [("sms", PHONE, "登录验证码 123456，60 秒内有效。")]


def test_outbox_gives_up_after_max_attempts(db: Database, clock: FrozenClock) -> None:
    """4.1.5.2-b: a message the provider never takes ends as failed after MAX_ATTEMPTS."""
    public_id = enqueue(db, clock.now())
    gateway = FlakyGateway(failures=10**6)
    now = clock.now()
    for _ in range(MAX_ATTEMPTS):
        deliver_pending(db, gateway, now=now)
        now += timedelta(seconds=2**MAX_ATTEMPTS)
    row = message(db, public_id)
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)
    deliver_pending(db, gateway, now=now + timedelta(days=1))
    assert gateway.calls == MAX_ATTEMPTS


def test_outbox_http_gateway_posts_json_and_maps_refusals(db: Database, clock: FrozenClock) -> None:
    """The HTTP provider adapter posts {id, channel, to, text} with basic auth, the id (the
    outbox row's) also as Idempotency-Key, the same on every attempt; a 5xx is a
    DeliveryError the worker retries, a 2xx a delivery whose body is then erased."""
    seen: list[httpx.Request] = []
    answers = iter([503, 200])

    def provider(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(next(answers))

    gateway = HttpMessageGateway("https://sms.example.test/send", "bank", "s3cret")
    gateway._client = httpx.Client(  # the provider is a local transport, not the network
        transport=httpx.MockTransport(provider), auth=("bank", "s3cret")
    )
    public_id = enqueue(db, clock.now())
    assert deliver_pending(db, gateway, now=clock.now()) == 0
    assert message(db, public_id).last_error == "provider answered 503"
    assert deliver_pending(db, gateway, now=clock.now() + timedelta(seconds=2)) == 1
    assert json.loads(seen[-1].content) == {
        "id": public_id,
        "channel": "sms",
        "to": PHONE,
        "text": "登录验证码 123456，60 秒内有效。",
    }
    assert seen[-1].headers["authorization"].startswith("Basic ")
    assert [r.headers["idempotency-key"] for r in seen] == [public_id, public_id]
    assert message(db, public_id).body == ""


def test_worker_refuses_to_run_without_a_provider_outside_dev(settings: Settings) -> None:
    """Production never falls back to the dev gateway."""
    prod = Settings.model_construct(**{**settings.model_dump(), "env": "prod"})
    with pytest.raises(RuntimeError):
        worker.message_gateway(prod)
    assert isinstance(worker.message_gateway(settings), DevMessageGateway)
    assert isinstance(
        worker.message_gateway(settings.model_copy(update={"sms_gateway_url": "https://x.test"})),
        HttpMessageGateway,
    )


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_dev_inbox_exists_only_in_dev(
    sqlite_db: Database, clock: FrozenClock, settings: Settings, env: str
) -> None:
    """4.1.6-c: GET /api/v1/dev/messages (codes in clear) is mounted with env=dev only; in
    prod it is a 404 like any unknown path."""
    run_write(sqlite_db, lambda s: make_person(s, at=clock.now()))
    enqueue(sqlite_db, clock.now())
    if env == "prod":
        app_settings = Settings(
            env="prod",
            database_url="postgresql://unused@127.0.0.1/unused",  # the app gets its db below
            secret_key="q7Vb2-Lm9xTz4Rk8Wp1Ns6Yh3Jd0Fc5Gu_Ea7Ko2Mi9Xv4Bt",
        )
    else:
        app_settings = settings
    app = create_app(app_settings, db=sqlite_db, clock=clock)
    # From this machine: the dev inbox answers loopback clients only (issue 11 #10).
    loopback = ("127.0.0.1", 50000)
    with TestClient(app, raise_server_exceptions=False, client=loopback) as client:
        response = client.get("/api/v1/dev/messages", params={"phone": PHONE})
        inbox = client.get("/dev/inbox", params={"phone": PHONE})
    if env == "dev":
        assert response.status_code == 200
        assert response.json()[0]["text"].startswith("登录验证码")
        assert inbox.status_code == 200
    else:
        assert response.status_code == 404
        assert "登录验证码" not in response.text
        assert inbox.status_code == 404
