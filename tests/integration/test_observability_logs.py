"""Issue 8 §1: structured JSON logs and request ids.

One JSON object per line, each carrying the request's id and route template (and the
caller's public id once an audited action names it); the request id comes from a safe
X-Request-ID or is made, and is answered in the header and in every problem+json body
(the middleware's own refusals and 500s included). The masking scan of
test_security_at_rest runs again over the JSON lines: no secret or personal number."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from integration.test_security_at_rest import (  # the journey and the scan, reused
    key_file,  # noqa: F401 - a fixture
    leaks,
    run_customer_journey,
)
from wangyin.app import create_app
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.observability import logs


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The app's own logging configuration (as `wangyin serve` applies it) at DEBUG,
    writing into a buffer; the previous configuration is put back afterwards."""
    buffer = io.StringIO()
    config = logs.logging_config(fmt="json", level="DEBUG")
    config["handlers"]["stderr"]["stream"] = buffer
    root = logging.getLogger()
    saved_root = root.level, list(root.handlers)
    named = ("uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy.engine")
    saved = {n: (logging.getLogger(n).level, logging.getLogger(n).propagate) for n in named}
    logging.config.dictConfig(config)
    try:
        yield buffer
    finally:
        for handler in root.handlers:
            if handler not in saved_root[1]:
                handler.close()
        root.handlers[:] = saved_root[1]
        root.setLevel(saved_root[0])
        for name, (level, propagate) in saved.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).propagate = propagate


def _lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


@pytest.fixture
def client(sqlite_db: Database, settings: Settings, clock: FrozenClock) -> Iterator[TestClient]:
    app = create_app(settings, db=sqlite_db, clock=clock)

    @app.get("/api/v1/test-boom")
    def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_a_safe_request_id_is_kept_and_answered_in_header_and_problem(client: TestClient) -> None:
    sent = "lb-01HZX3Q8W2R5T7Y9"
    response = client.get("/api/v1/accounts", headers={"X-Request-ID": sent})
    assert response.status_code == 401
    assert response.headers["x-request-id"] == sent
    assert response.json()["request_id"] == sent


@pytest.mark.parametrize(
    "sent",
    [
        "short",  # under 8 characters
        "a" * 65,  # over 64
        "has space in it",
        "id-13812345678-x",  # an 11-digit run: could be a phone, ID or card number
        "<script>alert(1)</script>",
        "",
    ],
)
def test_an_unsafe_request_id_is_replaced(client: TestClient, sent: str) -> None:
    response = client.get("/api/v1/accounts", headers={"X-Request-ID": sent})
    made = response.headers["x-request-id"]
    assert made != sent and len(made) == 32 and made.isalnum()
    assert response.json()["request_id"] == made


def test_every_answer_has_a_request_id_refusals_of_the_middleware_and_500s_too(
    client: TestClient,
) -> None:
    ids = set()
    for response in (
        client.get("/healthz"),
        client.get("/login"),
        client.post("/api/v1/auth/login", content=b"x" * 70_000),  # 413 from the middleware
        client.get("/api/v1/test-boom"),  # 500
        client.get("/no/such/page"),
    ):
        request_id = response.headers.get("x-request-id")
        assert request_id, (response.status_code, response.headers)
        ids.add(request_id)
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            assert response.json()["request_id"] == request_id
    assert len(ids) == 5
    assert client.post("/api/v1/auth/login", content=b"x" * 70_000).status_code == 413
    assert client.get("/api/v1/test-boom").status_code == 500


def test_log_lines_are_json_with_request_id_route_and_public_actor(
    client: TestClient, json_log: io.StringIO
) -> None:
    sent = "trace-0123456789abcdef"
    client.get("/api/v1/accounts/ACC-PUBLIC-ID", headers={"X-Request-ID": sent})
    client.get("/api/v1/test-boom", headers={"X-Request-ID": "trace-boom-000001"})
    lines = _lines(json_log)
    access = [line for line in lines if line["logger"] == "wangyin.access"]
    mine = [line for line in access if line.get("request_id") == sent]
    assert len(mine) == 1
    assert mine[0]["route"] == "/api/v1/accounts/{account_id}"  # the template, not the path
    assert mine[0]["status"] == 401 and mine[0]["code"] == "not_authenticated"
    assert {"time", "level", "message", "duration_ms"} <= set(mine[0])
    ours = [line for line in lines if line["logger"].startswith("wangyin")]
    assert "ACC-PUBLIC-ID" not in json.dumps(ours)  # no raw path (httpx logs the client's)
    crash = [line for line in lines if line.get("request_id") == "trace-boom-000001"]
    assert [line["code"] for line in crash if line["logger"] == "wangyin.access"] == [
        "internal_error"
    ]
    logged = [line for line in crash if line["logger"] == "wangyin.app"]
    assert logged and "exc_info" in logged[0]
    assert logged[0]["message"] == "unhandled error on GET /api/v1/test-boom"
    assert logged[0]["route"] == "/api/v1/test-boom"  # known inside the request too


def test_text_format_names_the_request_too(client: TestClient) -> None:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    config = logs.logging_config(fmt="text")
    handler.setFormatter(logging.Formatter(config["formatters"]["main"]["format"]))
    handler.addFilter(logs.RequestContext(text=True))
    access = logging.getLogger("wangyin.access")
    access.addHandler(handler)
    level = access.level
    access.setLevel(logging.INFO)
    try:
        client.get("/healthz", headers={"X-Request-ID": "text-req-00000001"})
        logging.getLogger("wangyin.test").warning("outside any request")
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    assert "[text-req-00000001] GET /healthz 200" in buffer.getvalue()


def test_the_masking_scan_covers_the_json_logs(
    sqlite_url: str,
    clock: FrozenClock,
    settings: Settings,
    key_file: Path,  # noqa: F811 - the fixture imported above
    json_log: io.StringIO,
) -> None:
    """4.1.6-c: registration, device binding, a transfer with a code, security changes and
    a password reset, logged as JSON at DEBUG (SQL echo included): no line holds an ID
    number, mobile, card number, password, PIN or code, in any field, the new ones
    (request_id, route, actor) included; every request logged its id and template."""
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    db = Database(sqlite_url)
    try:
        _journey, secrets = run_customer_journey(db, clock, settings)
    finally:
        db.dispose()
    text = json_log.getvalue()
    lines = _lines(json_log)
    assert len(lines) > 100 and "HTTP Request: POST" in text  # positive control
    assert leaks(text.encode(), secrets) == []
    # json.dumps escapes nothing here (ensure_ascii off), so the scan reads Chinese too.
    assert leaks(json.dumps(lines, ensure_ascii=False).encode(), secrets) == []
    access = [line for line in lines if line["logger"] == "wangyin.access"]
    assert len(access) >= 10
    assert all(len(line["request_id"]) >= 8 and line["route"].startswith("/") for line in access)
    actors = {line.get("actor") for line in access} - {None}
    assert actors and all(len(a) == 36 for a in actors)  # public ids (UUIDs), nothing else
