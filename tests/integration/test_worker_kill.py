"""Two `wangyin worker` processes deliver one outbox; one is SIGKILLed mid-delivery
(issue 8 §4, 4.1.4-f): the other finishes, and every message reaches the phone once.

The provider is a fake SMS gateway over HTTP in this process, reached by the workers'
HttpMessageGateway (WANGYIN_SMS_GATEWAY_URL, a path per worker so it knows who calls).
It holds every request until both workers have called, so they work side by side; later
it holds one request, the test SIGKILLs the worker that sent it, and the provider then
takes that message (a real provider may well have). The survivor sends it again, with
the same idempotency key (the outbox row's public id), which the provider answers
without delivering it twice. On PostgreSQL, where rows are claimed with SKIP LOCKED and
a killed worker's lock dies with its connection.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wangyin.db import Database
from wangyin.notify import service as notify
from wangyin.notify.models import OutboxMessage
from wangyin.security.keys import load_keyring
from wangyin.uow import run_read, run_write

WANGYIN = Path(sys.executable).with_name("wangyin")
MESSAGES = 90
HOLD_AFTER = 30  # requests the provider answers before it holds one for the kill
WAIT_SECONDS = 30


class FakeProvider:
    """An SMS provider that delivers a message once per idempotency key."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.posts: list[tuple[str, str]] = []  # (worker, key), every request
        self.delivered: Counter[str] = Counter()  # key -> deliveries to the phone
        self.callers: set[str] = set()
        self.both_calling = threading.Event()
        self.held = threading.Event()
        self.release = threading.Event()
        self.held_by: tuple[str, str] | None = None

    def take(self, worker: str, key: str) -> int:
        with self.lock:
            self.callers.add(worker)
            if len(self.callers) == 2:
                self.both_calling.set()
        # Both workers at work before anything is delivered.
        self.both_calling.wait(WAIT_SECONDS)
        hold = False
        with self.lock:
            self.posts.append((worker, key))
            if self.held_by is None and len(self.posts) > HOLD_AFTER:
                self.held_by, hold = (worker, key), True
        if hold:
            self.held.set()
            self.release.wait(WAIT_SECONDS)  # meanwhile its worker is killed
        with self.lock:
            if not key:
                return 400
            if key not in self.delivered:
                self.delivered[key] += 1  # a resend under a known key delivers nothing
        return 200


@contextlib.contextmanager
def serving(provider: FakeProvider) -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            key = self.headers.get("Idempotency-Key", "")
            assert body["id"] == key
            status = provider.take(self.path.strip("/"), key)
            with contextlib.suppress(OSError):  # the killed worker's socket is gone
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        provider.release.set()
        server.shutdown()
        server.server_close()


def _enqueue(db: Database, at: datetime) -> list[str]:
    def action(s: Session) -> list[str]:
        return [
            notify.enqueue(
                s,
                channel="sms",
                phone=f"139{n:08d}",
                text=f"您的验证码 {n:06d}，60 秒内有效。",
                purpose="login",
                at=at,
            ).public_id
            for n in range(MESSAGES)
        ]

    return run_write(db, action)


def _pending(db: Database) -> int:
    return run_read(
        db,
        lambda s: s.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "sent")
        ),
    )


def _start_worker(name: str, *, pg_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANGYIN_")}
    env |= {
        "WANGYIN_ENV": "dev",
        "WANGYIN_DATABASE_URL": pg_url,
        "WANGYIN_SMS_GATEWAY_URL": f"http://127.0.0.1:{port}/{name}",
        "WANGYIN_KEYRING": load_keyring().to_json(),  # the keyring the messages were sealed with
        "NO_COLOR": "1",
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(WANGYIN), "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _kill(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def test_a_worker_killed_mid_delivery_leaves_every_message_delivered_once(
    pg_db: Database, pg_url: str, tmp_path: Path
) -> None:
    ids = _enqueue(pg_db, datetime.now(UTC))
    provider = FakeProvider()
    workers: dict[str, subprocess.Popen[bytes]] = {}
    with serving(provider) as port:
        try:
            for name in ("w1", "w2"):
                workers[name] = _start_worker(
                    name, pg_url=pg_url, port=port, log=tmp_path / f"{name}.log"
                )
            assert provider.held.wait(WAIT_SECONDS), [p.read_text() for p in tmp_path.iterdir()]
            assert provider.held_by is not None
            victim, in_flight = provider.held_by
            _kill(workers[victim], signal.SIGKILL)
            assert workers[victim].wait(10) == -signal.SIGKILL
            provider.release.set()  # the provider takes the message the dead worker sent

            deadline = time.monotonic() + WAIT_SECONDS
            while _pending(pg_db) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _pending(pg_db) == 0
            survivor = workers["w2" if victim == "w1" else "w1"]
            # SIGTERM: the survivor finishes the message in hand and exits cleanly.
            _kill(survivor, signal.SIGTERM)
            assert survivor.wait(15) == 0
        finally:
            for proc in workers.values():
                if proc.poll() is None:
                    _kill(proc, signal.SIGKILL)
                    proc.wait(10)

    # Every message reached its phone exactly once.
    assert sorted(provider.delivered) == sorted(ids)
    assert set(provider.delivered.values()) == {1}
    # Both workers delivered; only the one in flight at the kill was sent twice, by the
    # survivor, under the same key.
    posts = Counter(key for _, key in provider.posts)
    assert {key for key, n in posts.items() if n > 1} == {in_flight}
    assert posts[in_flight] == 2
    assert {worker for worker, _ in provider.posts} == {"w1", "w2"}
    resend = [worker for worker, key in provider.posts if key == in_flight][1]
    assert resend != victim
    assert len(provider.posts) == MESSAGES + 1
