"""The database goes away under a served app, and comes back: the app degrades cleanly.

A private PostgreSQL (its own data directory, port and socket directory; never the
machine's main one) is killed with `pg_ctl stop -m immediate` under a real uvicorn server
in its own process. While it is down, every request that needs it is `503
service_unavailable` with `Retry-After`, in the caller's language, over the same kept-alive
connection; the server logs one warning for the outage and no traceback. When it is back,
`/readyz` turns 200 and one line says how many requests were refused meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from private_postgres import PrivatePostgres, free_port, private_postgres
from wangyin.app import create_app
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.migrate import upgrade
from wangyin.uow import run_write
from wangyin.web.availability import DatabaseAvailability, describe, is_unavailable

IN_CI = os.environ.get("CI", "").lower() == "true"
UNAVAILABLE_EN = "The service is temporarily unavailable. Please try again in a moment."
UNAVAILABLE_ZH = "系统暂时无法提供服务，请稍后再试。"
SESSION = {"Cookie": "wy_session=" + "x" * 40}  # unknown session: the page looks it up
ID_NUMBER = "110101199003074578"  # personal data, as a statement parameter
LOGIN = {"login": "outage_probe_user", "password": "Outage-Secret-4711"}

# The server: the app built with create_app(settings, db=Database(url)), served by uvicorn
# with trace logging, whose "HTTP connection made" lines count TCP connections.
SERVER = """
import logging, sys
import uvicorn
from wangyin.app import create_app
from wangyin.config import Settings
from wangyin.db import Database

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
url, port = sys.argv[1], int(sys.argv[2])
settings = Settings(database_url=url, channel_encryption="optional")
app = create_app(settings, db=Database(url, pool_size=4))
uvicorn.run(
    app, host="127.0.0.1", port=port, log_level="trace", access_log=False,
    timeout_keep_alive=120,
)
"""


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    with private_postgres("wangyin-outage-pg-") as pg:
        yield pg


@contextlib.contextmanager
def served_app(url: str, workdir: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    log_path = workdir / "server.log"
    # dev settings: the keyring is created in the working directory (var/keys.json).
    env = {**os.environ, "WANGYIN_ENV": "dev"}
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, url, str(port)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}", log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _wait_until_up(client: httpx.Client, log_path: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail("the server did not start:\n" + log_path.read_text())


def _local_port(response: httpx.Response) -> int:
    stream = response.extensions["network_stream"]
    return int(stream.get_extra_info("client_addr")[1])


def _assert_unavailable(response: httpx.Response, *, lang: str, api: bool) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    assert response.headers.get("connection", "").lower() != "close"
    text = UNAVAILABLE_EN if lang == "en" else UNAVAILABLE_ZH
    if api:
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["code"] == "service_unavailable" and body["status"] == 503
        assert body["title"] == text
    else:
        assert response.headers["content-type"].startswith("text/html")
        assert text in response.text


def _records(log: str, needle: str) -> list[str]:
    return [line for line in log.splitlines() if needle in line]


def test_database_outage_degrades_cleanly_and_recovers(
    private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    upgrade(private_pg.url)
    started = time.monotonic()
    ports: set[int] = set()
    refused = 0

    with (
        served_app(private_pg.url, tmp_path) as (base, log_path),
        httpx.Client(base_url=base, timeout=15) as client,
    ):
        _wait_until_up(client, log_path)

        def send(method: str, path: str, **kwargs: object) -> httpx.Response:
            nonlocal refused
            response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
            ports.add(_local_port(response))
            refused += response.status_code == 503
            return response

        # Up: ready, and the database answers (pooled connections exist to go stale).
        ready = send("GET", "/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}, ready.text
        assert send("POST", "/api/v1/auth/login", json=LOGIN).status_code == 401
        assert send("GET", "/accounts", headers=SESSION).status_code == 303
        assert refused == 0

        private_pg.stop()

        # An API route and a page that need the database, in both languages.
        login = send("POST", "/api/v1/auth/login", json=LOGIN)
        _assert_unavailable(login, lang="zh", api=True)
        login_en = send("POST", "/api/v1/auth/login", json=LOGIN, headers={"Accept-Language": "en"})
        _assert_unavailable(login_en, lang="en", api=True)
        page = send("GET", "/accounts", headers=SESSION)
        _assert_unavailable(page, lang="zh", api=False)
        page_en = send("GET", "/accounts?lang=en", headers=SESSION)
        _assert_unavailable(page_en, lang="en", api=False)
        client.cookies.delete("lang")  # ?lang=en remembers the choice in a cookie
        not_ready = send("GET", "/readyz")
        _assert_unavailable(not_ready, lang="zh", api=True)
        assert not_ready.json()["reason"] == "database_unavailable"
        # Liveness stays a process check: nobody restarts healthy app processes.
        assert send("GET", "/healthz").status_code == 200
        assert refused == 5

        private_pg.start()

        deadline = time.monotonic() + 15
        while (ready := send("GET", "/readyz")).status_code != 200:
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.2)
        assert ready.json() == {"status": "ready"}
        # A normal answer that needs the database: the login is checked, and refused.
        back = send("POST", "/api/v1/auth/login", json=LOGIN)
        assert back.status_code == 401 and back.json()["code"] == "invalid_credentials"

        # The recovery line comes with the first answered statement after a quiet second.
        deadline = time.monotonic() + 10
        while not _records(log_path.read_text(), "database available again"):
            assert time.monotonic() < deadline, log_path.read_text()
            send("GET", "/readyz")
            time.sleep(0.2)

    log = log_path.read_text()
    down = _records(log, "database unavailable")
    up = _records(log, "database available again")
    assert len(down) == 1, log
    assert len(up) == 1, log
    assert re.search(rf"\b{refused} requests refused meanwhile", up[0]), (refused, up[0])
    # One kept-alive connection throughout: the client never reconnected, and uvicorn saw
    # one connection (uvicorn's trace log, "HTTP connection made").
    assert len(ports) == 1, ports
    assert len(_records(log, "HTTP connection made")) == 1, log
    # Quiet and discreet: no tracebacks, no errors, and never what the client sent.
    assert "Traceback" not in log, log
    assert not _records(log, "ERROR"), log
    assert LOGIN["password"] not in log and LOGIN["login"] not in log
    assert time.monotonic() - started < 40


# The classification and the tracker, without a server.


def _psycopg_error(message: str, sqlstate: str | None = None) -> psycopg.Error:
    if sqlstate is None:
        return psycopg.OperationalError(message)  # client-side: no SQLSTATE
    return psycopg.errors.lookup(sqlstate)(message)


@pytest.mark.parametrize(
    "exc",
    [
        OperationalError("SELECT 1", {}, _psycopg_error("connection failed: Connection refused")),
        OperationalError(
            "SELECT 1", {}, _psycopg_error("consuming input failed: server closed the connection")
        ),
        OperationalError("SELECT 1", {}, _psycopg_error("terminating connection", "57P01")),
        OperationalError(
            "SELECT 1", {}, _psycopg_error("the database system is starting", "57P03")
        ),
        _psycopg_error("connection failed: Connection refused"),
        PoolTimeoutError("QueuePool limit of size 4 overflow 4 reached"),
        DomainError("service_unavailable"),
    ],
    ids=["refused", "closed", "admin-shutdown", "starting-up", "raw-psycopg", "pool", "uow"],
)
def test_connection_failures_are_unavailability(exc: BaseException) -> None:
    assert is_unavailable(exc)


@pytest.mark.parametrize(
    "exc",
    [
        IntegrityError("INSERT", {}, psycopg.errors.lookup("23505")("duplicate key")),
        OperationalError("SELECT", {}, _psycopg_error("canceling statement", "57014")),
        OperationalError("BEGIN", {}, Exception("database is locked")),  # SQLite: busy, not gone
        ValueError("not a database error"),
        DomainError("busy"),
    ],
    ids=["unique", "statement-timeout", "sqlite-locked", "bug", "busy"],
)
def test_other_errors_are_not_unavailability(exc: BaseException) -> None:
    assert not is_unavailable(exc)


def test_description_carries_no_sql_or_parameters() -> None:
    exc = OperationalError(
        "SELECT * FROM users WHERE id_number = %(n)s",
        {"n": ID_NUMBER},
        _psycopg_error("connection failed: Connection refused\n\tIs the server running?"),
    )
    text = describe(exc)
    assert text == "OperationalError: connection failed: Connection refused"
    assert ID_NUMBER not in text and "SELECT" not in text


def test_one_warning_per_outage_and_one_on_return(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    tracker = DatabaseAvailability(settle_seconds=1.0, monotonic=lambda: now[0])
    cause = _psycopg_error("connection failed: Connection refused")
    caplog.set_level(logging.INFO, logger="wangyin.web.availability")
    tracker.answered()  # up: nothing to say
    for _ in range(3):
        tracker.refused(cause)
    now[0] += 0.5
    tracker.answered()  # too soon after a failure: a flapping database is still down
    assert tracker.down
    tracker.refused(cause)
    now[0] += 1.5
    tracker.answered()
    tracker.answered()
    assert not tracker.down and tracker.refused_count == 0
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith("database unavailable (OperationalError: connection failed")
    assert messages[1] == "database available again after 2.0 s; 4 requests refused meanwhile"
    assert all(r.exc_info is None for r in caplog.records)


def test_other_database_errors_stay_a_logged_500_without_parameters(
    sqlite_db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings, db=sqlite_db)

    def boom() -> None:
        raise IntegrityError("INSERT INTO t VALUES (?)", (ID_NUMBER,), Exception("x"))

    def dead_connection(_s: object) -> None:
        raise OperationalError(
            "SELECT 1", {}, _psycopg_error("connection failed: Connection refused")
        )

    def gone() -> None:
        run_write(sqlite_db, dead_connection)

    app.add_api_route("/api/v1/boom", boom)
    app.add_api_route("/api/v1/gone", gone)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/boom")
        assert response.status_code == 500 and response.json()["code"] == "internal_error"
        assert "retry-after" not in response.headers
        # Retries used up on a dead connection: the unit of work says it is an outage.
        response = client.get("/api/v1/gone")
        assert response.status_code == 503 and response.json()["code"] == "service_unavailable"
        assert response.headers["retry-after"] == "2"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert ID_NUMBER not in caplog.text  # the traceback is there, the parameter is not
