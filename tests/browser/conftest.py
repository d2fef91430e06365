"""A real Wangyin server (its own process, fresh seeded SQLite) and Debian's chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from factories.fraud import rules_out_of_reach
from wangyin.db import Database
from wangyin.uow import run_write

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("browser-server")
    env = {
        **os.environ,
        "WANGYIN_DATABASE_URL": f"sqlite:///{workdir / 'wangyin.db'}",
        "WANGYIN_ENV": "dev",
        # The journeys log the same customers in and ask for codes faster than a person
        # would; the per-customer limits themselves are proven in tests/functional.
        "WANGYIN_RATELIMIT_CODE_PER_ACCOUNT": "100",
        "WANGYIN_RATELIMIT_LOGIN_PER_ACCOUNT": "100",
        # Every browser comes from 127.0.0.1 and the same demo customers bind many
        # browsers a day: the per-IP limits and the daily code cap are proven there too.
        "WANGYIN_RATELIMIT_CODE_PER_IP": "1000",
        "WANGYIN_RATELIMIT_LOGIN_PER_IP": "1000",
        # Every page with a sealed field opens a secure channel first (channel.js): the
        # journeys open far more than 120 a minute from 127.0.0.1, and a refused handshake
        # leaves the form unsent (the flaky login timeouts of the full runs).
        "WANGYIN_RATELIMIT_CHANNEL_PER_IP": "100000",
        "WANGYIN_OTP_DAILY_CAP": "1000",
    }
    cli = [sys.executable, "-m", "wangyin.cli"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([*cli, "seed-demo"], env=env, check=True, capture_output=True)
    # The journeys sign the demo customers in from new browsers at any hour and pay their
    # payees again and again: the anti-fraud engine runs on every payment, its decisions
    # out of reach (its holds and refusals have their own tests: test_fraud_browser.py on
    # its own server, tests/functional/test_fraud_scenario.py).
    db = Database(env["WANGYIN_DATABASE_URL"])
    try:
        run_write(db, lambda s: rules_out_of_reach(s, at=datetime.now(UTC)))
    finally:
        db.dispose()
    port = _free_port()
    log = (workdir / "server.log").open("w")
    proc = subprocess.Popen(
        [*cli, "serve", "--host", "::", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90  # a loaded CI machine starts slowly
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("server did not start: " + Path(log.name).read_text())
    yield base
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Debian chromium is missing: `make test` installs it")
        pytest.skip("Debian chromium not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()
