"""The back office in a browser (issue 7 §1-§2): a teller signs in with a TOTP code, finds
王芳 by her ID number and proposes the professional edition with the written
confirmation; a supervisor signs in, approves it with a reason; her edition is then
professional. Its own server and database: the shared one keeps 王芳 public."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import create_engine, text

from wangyin import seed

pytestmark = pytest.mark.browser

STAFF = {m.username: m for m in seed.STAFF}
WANGFANG = next(p for p in seed.PEOPLE if p.username == "wangfang")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def office_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    workdir = tmp_path_factory.mktemp("backoffice-server")
    database = workdir / "wangyin.db"
    env = {**os.environ, "WANGYIN_DATABASE_URL": f"sqlite:///{database}", "WANGYIN_ENV": "dev"}
    cli = [sys.executable, "-m", "wangyin.cli"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    seeded = subprocess.run([*cli, "seed-demo"], env=env, check=True, capture_output=True)
    # `make demo` prints every staff login with its TOTP secret (demo only).
    printed = seeded.stdout.decode()
    assert all(m.totp_secret in printed for m in seed.STAFF), printed
    port = _free_port()
    log = (workdir / "server.log").open("w")
    proc = subprocess.Popen(
        [*cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("server did not start: " + Path(log.name).read_text())
        yield base, database
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def _sign_in(page: Any, server: str, username: str) -> None:
    page.goto(f"{server}/admin/login")
    page.fill("#username", username)
    page.fill("#staff_password", seed.DEMO_STAFF_PASSWORD)
    page.fill("#totp_code", pyotp.TOTP(STAFF[username].totp_secret).now())
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r".*/admin$"))
    assert STAFF[username].name in page.inner_text("#whoami")


def _edition(database: Path) -> str:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            return str(
                conn.execute(text("SELECT edition FROM users WHERE username = 'wangfang'")).scalar()
            )
    finally:
        engine.dispose()


def test_teller_proposes_the_professional_edition_and_a_supervisor_approves(
    office_server: tuple[str, Path], browser: Any
) -> None:
    server, database = office_server
    assert _edition(database) == "public"
    teller = browser.new_context(locale="zh-CN")
    page = teller.new_page()
    _sign_in(page, server, "teller")
    page.select_option("#by", "id_number")
    page.fill("#q", WANGFANG.id_number)
    page.click("form[action='/admin/customers'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/customers/[0-9a-f-]+$"))
    # Masked by default.
    assert WANGFANG.id_number not in page.content()
    assert WANGFANG.mobile not in page.content()
    page.fill("#upgrade_professional-confirmation", "GM-2026-0001")
    page.fill("#upgrade_professional-reason", "客户临柜签署专业版确认书")
    page.click("#propose-upgrade_professional button[type=submit]")
    page.wait_for_url(re.compile(r".*notice=pending$"))
    assert page.is_visible("#notice")
    assert _edition(database) == "public"  # nothing happens before the checker
    page.click("nav.mainnav button[type=submit]")  # sign out
    page.wait_for_url(re.compile(r".*/admin/login$"))
    teller.close()

    supervisor = browser.new_context(locale="zh-CN")
    page = supervisor.new_page()
    _sign_in(page, server, "supervisor")
    page.goto(f"{server}/admin/commands")
    row = page.locator("tr[data-command]").filter(has_text="GM-2026-0001")
    row.locator("input[name=reason]").fill("确认书与身份证件已核对")
    row.locator("button[value=approve]").click()
    page.wait_for_url(re.compile(r".*/admin/commands\?notice=executed$"))
    assert "已执行" in page.inner_text("#notice")
    supervisor.close()
    assert _edition(database) == "professional"
