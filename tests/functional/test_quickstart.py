"""The quick start works on a fresh machine (issue 10 §1).

`wangyin demo` runs in an empty working directory (no var/, no database, no key file),
as `make demo` does on a fresh clone, on a port of the test's choosing. The test then does
what the README tells a newcomer to do: open the Chinese login page, log in as 张伟 from
a new device with the code from the dev inbox and the ID number the demo printed, and
look at the accounts. Afterwards `wangyin verify` in the same directory finds the ledger
consistent.

`wangyin serve --workers 2` (uvicorn's multiprocess supervisor on one dual-stack socket)
and `wangyin serve` on a database that was never migrated are checked the same way.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from wangyin.client import WangyinClient

WANGYIN = Path(sys.executable).with_name("wangyin")
STARTUP_SECONDS = 60
DEMO_LOGIN = "zhangwei"
DEMO_PASSWORD = "Wangyin@2026"


def _fresh_env() -> dict[str, str]:
    """The caller's environment without any WANGYIN_* setting: only the defaults count."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANGYIN_")}
    env.pop("FORCE_COLOR", None)
    env["NO_COLOR"] = "1"
    env["WANGYIN_ENV"] = "dev"
    return env


def _free_port() -> int:
    """A port free on the any-address the demo binds (IPv6 and IPv4 where available)."""
    if socket.has_dualstack_ipv6():
        sock = socket.create_server(("::", 0), family=socket.AF_INET6, dualstack_ipv6=True)
    else:
        sock = socket.create_server(("127.0.0.1", 0))
    with sock:
        return int(sock.getsockname()[1])


def _log_text(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""


def _stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM to the whole process group (the server and anything it started), then wait;
    SIGKILL if it does not go. Returns the exit status."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=10)


@contextlib.contextmanager
def _running(
    args: list[str], *, cwd: Path, env: dict[str, str], base: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`wangyin ARGS` in its own process group in `cwd`, until /healthz answers; the
    group is always killed on the way out."""
    log = cwd / "wangyin.log"
    out: IO[bytes] = log.open("wb")
    proc = subprocess.Popen(
        [str(WANGYIN), *args],
        cwd=cwd,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if proc.poll() is not None:
                pytest.fail(f"wangyin {args[0]} exited with {proc.returncode}:\n{_log_text(log)}")
            if time.monotonic() > deadline:
                pytest.fail(f"no /healthz within {STARTUP_SECONDS} s:\n{_log_text(log)}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            time.sleep(0.25)
        yield proc, log
    finally:
        if proc.poll() is None:
            _stop(proc)
        out.close()


def _latest_code(bank: WangyinClient, phone: str) -> str:
    """The newest one-time code in the dev inbox (its JSON route), as a person reads it."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for message in bank.call("GET", f"/dev/messages?phone={phone}"):
            found = re.search(r"\b(\d{6})\b", message["text"])
            if found:
                return found.group(1)
        time.sleep(0.2)
    raise AssertionError(f"no code in the dev inbox for {phone}")


def test_demo_quick_start_from_an_empty_directory(tmp_path: Path) -> None:
    assert WANGYIN.exists(), f"{WANGYIN} not installed (make install)"
    workdir = tmp_path / "fresh-clone"
    workdir.mkdir()
    port = _free_port()
    env = {**_fresh_env(), "WANGYIN_PORT": str(port)}
    base = f"http://127.0.0.1:{port}"

    with _running(["demo"], cwd=workdir, env=env, base=base) as (proc, log):
        printed = _log_text(log)

        # The dev-inbox address printed with the logins is the one being served.
        inbox = re.search(r"(https?://[^\s/]+)/dev/inbox\?phone=", printed)
        assert inbox, printed
        assert inbox.group(1) == f"http://localhost:{port}", printed
        person = re.search(rf"login {DEMO_LOGIN} .*?mobile (\d{{11}}), ID (\d{{17}}[\dX])", printed)
        assert person, printed
        mobile, id_number = person.groups()

        # The login page, in Chinese.
        page = httpx.get(f"{base}/login", headers={"Accept-Language": "zh-CN,zh"}, timeout=10)
        assert page.status_code == 200, page.text
        assert 'lang="zh-CN"' in page.text
        assert "登录网上银行" in page.text

        # Log in through the JSON API with the project's client (it speaks the encrypted
        # channel that dev requires for the password, code and ID number). A new device:
        # the code goes to the dev inbox, the ID number binds the device.
        with WangyinClient(base, device_id=f"quickstart-{uuid.uuid4()}", timeout=15) as bank:
            login = bank.login(
                DEMO_LOGIN,
                DEMO_PASSWORD,
                code_callback=lambda _challenge: _latest_code(bank, mobile),
                id_number=id_number,
            )
            assert login["status"] == "authenticated", login
            assert bank.token
            overview = bank.call("GET", "/accounts")
        currencies = {account["currency"] for account in overview["accounts"]}
        assert currencies == {"CNY", "USD"}, overview

        # A graceful stop: uvicorn finishes, then re-raises the SIGTERM it caught.
        assert _stop(proc) in (0, -signal.SIGTERM), _log_text(log)
        assert "Application shutdown complete" in _log_text(log)

    assert (workdir / "var" / "wangyin.db").exists()
    verify = subprocess.run(
        [str(WANGYIN), "verify"], cwd=workdir, env=env, capture_output=True, timeout=60
    )
    output = verify.stdout.decode(errors="replace") + verify.stderr.decode(errors="replace")
    assert verify.returncode == 0, output
    assert "ledger is consistent" in output


def test_serve_with_two_workers(tmp_path: Path) -> None:
    """`wangyin db upgrade` creates var/ itself; `serve --workers 2` runs two uvicorn
    workers behind the supervisor on one socket, reachable over IPv4 and IPv6."""
    env = _fresh_env()
    upgrade = subprocess.run(
        [str(WANGYIN), "db", "upgrade"], cwd=tmp_path, env=env, capture_output=True, timeout=60
    )
    assert upgrade.returncode == 0, upgrade.stderr.decode(errors="replace")
    assert (tmp_path / "var" / "wangyin.db").exists()

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    args = ["serve", "--port", str(port), "--workers", "2"]
    with _running(args, cwd=tmp_path, env=env, base=base) as (proc, log):
        deadline = time.monotonic() + STARTUP_SECONDS
        while _log_text(log).count("Application startup complete") < 2:
            assert time.monotonic() < deadline, _log_text(log)
            assert proc.poll() is None, _log_text(log)
            time.sleep(0.25)
        assert "Started parent process" in _log_text(log)
        for _ in range(4):
            assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        if socket.has_dualstack_ipv6():
            assert httpx.get(f"http://[::1]:{port}/healthz", timeout=5).status_code == 200
        assert _stop(proc) == 0, _log_text(log)


def test_serve_before_migrating_says_what_to_do(tmp_path: Path) -> None:
    """On a fresh clone, `wangyin serve` before `wangyin db upgrade` stops with the command
    to run instead of serving errors."""
    result = subprocess.run(
        [str(WANGYIN), "serve", "--port", str(_free_port())],
        cwd=tmp_path,
        env=_fresh_env(),
        capture_output=True,
        timeout=60,
    )
    output = result.stdout.decode(errors="replace")
    assert result.returncode == 2, output + result.stderr.decode(errors="replace")
    assert "wangyin db upgrade" in output
