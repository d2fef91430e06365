"""What one HTTP prepare+confirm costs the server, measured so that a busy machine does not
change the answer much.

`bench/transfers.py` reports server CPU per transfer from /proc while 8 clients load a
`wangyin serve`; on a machine shared with other work that figure drifts by 10-30 %. This
script drives the real app (`create_app`, every middleware) in process, one request at a
time, through a minimal ASGI caller (no HTTP client in the measured process), and reports
per transfer:

* Python calls (function and C calls seen by a profile hook in every thread): the same
  code path gives the same count whatever else the machine runs, so compare these between
  commits;
* CPU ms of this process (the app's event loop and its thread pool) without the hook;
* SQL statements and round trips (`Database.stats`).

    python bench/request_cost.py [--db postgresql|sqlite] [--transfers 300]

The app runs on an injected daytime clock (no night step-up at login), on a fresh database
(`wangyin_bench` on PostgreSQL, as `bench/transfers.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import itertools
import json
import os
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import transfers as bench  # the fixture and database helpers of the main bench


class Caller:
    """Calls an ASGI app the way uvicorn does, one request at a time."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def request(
        self, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        payload = json.dumps(body).encode() if body is not None else b""
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        raw_headers += [
            (b"host", b"127.0.0.1:8000"),
            (b"content-length", str(len(payload)).encode()),
        ]
        if body is not None:
            raw_headers.append((b"content-type", b"application/json"))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": raw_headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        data = b"".join(chunks)
        return status, (json.loads(data) if data else {})


async def one_transfer(
    call: Caller, auth: dict[str, str], source: Any, target: Any, name: str
) -> None:
    status, transfer = await call.request(
        "POST",
        "/api/v1/transfers",
        {
            "from_account_id": source.public_id,
            "to_account_number": target.number,
            "payee_name": name,
            "amount": "1.00",
            "currency": "CNY",
            "remark": "bench",
        },
        {**auth, "Idempotency-Key": uuid.uuid4().hex},
    )
    if status != 201:
        raise RuntimeError(f"prepare {status}: {transfer}")
    status, done = await call.request(
        "POST",
        f"/api/v1/transfers/{transfer['id']}/confirm",
        {"key_digest": transfer["key_digest"]},
        {**auth, "Idempotency-Key": uuid.uuid4().hex},
    )
    if status != 200 or done.get("status") != "COMPLETED":
        raise RuntimeError(f"confirm {status}: {done}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--transfers", type=int, default=300)
    parser.add_argument(
        "--top",
        type=int,
        default=0,
        help="also list the N packages and functions called most per transfer",
    )
    parser.add_argument(
        "--only", default="", help="with --top: list only functions whose file starts with this"
    )
    parser.add_argument(
        "--top-c", action="store_true", help="with --top: name the caller of each C call"
    )
    args = parser.parse_args(argv)

    from wangyin.app import create_app
    from wangyin.clock import FrozenClock
    from wangyin.config import Settings

    target = bench.Target(args.db)
    pg_base = os.environ.get("WANGYIN_BENCH_PG_URL", bench.DEFAULT_PG)
    url = target.fresh(pg_base)
    payer, payee = bench.seed(url, customers=2, per_customer=1)
    # 10:00 Beijing time on a working day: the daytime path, whatever the hour here.
    clock = FrozenClock(datetime(2026, 12, 7, 2, 0, tzinfo=UTC))
    # The server settings of bench/transfers.py (rate limits off, fields may travel
    # unencrypted: this caller does not do the channel handshake).
    os.environ.update(bench.BENCH_ENV)
    settings = Settings(database_url=url)
    app = create_app(settings, clock=clock)
    gc.freeze()  # as wangyin.asgi does after start-up
    db = app.state.wangyin.db
    call = Caller(app)
    device = {"X-Device-Id": f"bench-device-{payer.username}"}

    async def login() -> dict[str, str]:
        """Password, then (a device this server has not bound) the SMS code from the outbox
        with the ID number, as a client would."""
        status, body = await call.request(
            "POST",
            "/api/v1/auth/login",
            {"login": payer.username, "password": bench.PASSWORD},
            device,
        )
        if status == 200 and body.get("status") == "challenge_required":
            await call.request(
                "POST",
                "/api/v1/auth/login/code",
                {"challenge_id": body["challenge_id"], "channel": "sms"},
                device,
            )
            code = bench.read_code(url, payer.mobile, bench.LOGIN_PURPOSES)
            status, body = await call.request(
                "POST",
                "/api/v1/auth/login/verify",
                {"challenge_id": body["challenge_id"], "code": code, "id_number": payer.id_number},
                device,
            )
        if status != 200 or not body.get("token"):
            raise RuntimeError(f"login {status}: {body}")
        if body.get("device_credential"):
            device["X-Device-Credential"] = body["device_credential"]
        return {**device, "Authorization": f"Bearer {body['token']}"}

    async def run() -> dict[str, float]:
        auth = await login()
        source, target_account = payer.accounts[0], payee.accounts[0]

        async def transfers(n: int) -> None:
            for _ in range(n):
                clock.advance(seconds=1)
                await one_transfer(call, auth, source, target_account, payee.name)

        await transfers(50)  # warm-up: caches, prepared statements, the pool
        n = args.transfers
        statements0, trips0 = db.stats.statements, db.stats.round_trips
        cpu0 = time.process_time()
        await transfers(n)
        cpu = time.process_time() - cpu0
        statements = db.stats.statements - statements0
        trips = db.stats.round_trips - trips0
        return {
            "transfers": n,
            "cpu_ms": cpu * 1000 / n,
            "statements": statements / n,
            "round_trips": trips / n,
        }

    counter = itertools.count()
    by_function: collections.Counter[str] = collections.Counter()

    def hook(frame: Any, event: str, arg: Any) -> None:
        if event == "call" or event == "c_call":
            next(counter)

    def naming_hook(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            code = frame.f_code
            by_function[f"{_short(code.co_filename)}:{code.co_name}"] += 1
        elif event == "c_call":
            name = getattr(arg, "__qualname__", arg)
            caller = f"{_short(frame.f_code.co_filename)}:{frame.f_code.co_name}"
            by_function[f"<c>:{name} from {caller}" if args.top_c else f"<c>:{name}"] += 1

    async def counted(n: int) -> float:
        auth = await login()
        await one_transfer(call, auth, payer.accounts[0], payee.accounts[0], payee.name)
        start = next(counter)
        for _ in range(n):
            clock.advance(seconds=1)
            await one_transfer(call, auth, payer.accounts[0], payee.accounts[0], payee.name)
        return (next(counter) - start) / n

    try:
        result = asyncio.run(run())
        # A new event loop, so the thread pool's threads are new and carry the hook
        # (threading.setprofile reaches threads started after it, on Python 3.11).
        threading.setprofile(hook)
        sys.setprofile(hook)
        try:
            result["python_calls"] = asyncio.run(counted(min(args.transfers, 100)))
        finally:
            sys.setprofile(None)
            threading.setprofile(None)  # type: ignore[arg-type]
        if args.top:
            threading.setprofile(naming_hook)
            sys.setprofile(naming_hook)
            try:
                asyncio.run(counted(20))
            finally:
                sys.setprofile(None)
                threading.setprofile(None)  # type: ignore[arg-type]
        replanned = _replanned_statements(db) if args.db == "postgresql" else []
    finally:
        db.dispose()
        target.cleanup(pg_base)
    print(
        f"[{args.db}] HTTP prepare+confirm in process, {result['transfers']} transfers, "
        f"one at a time (loadavg {bench.loadavg()})"
    )
    print(
        f"  per transfer: {result['python_calls']:,.0f} Python calls, "
        f"{result['cpu_ms']:.2f} CPU ms, {result['statements']:.1f} statements, "
        f"{result['round_trips']:.1f} round trips"
    )
    if args.db == "postgresql":
        # A prepared statement PostgreSQL plans afresh on every execution costs its CPU on
        # every transfer (an `= ANY(array)` did: the generic plan cannot cost the array).
        print(f"  statements re-planned on every execution: {len(replanned)}")
        for custom, generic, statement in replanned:
            print(f"    {custom} custom / {generic} generic plans: {statement}")
    if args.top:
        packages: collections.Counter[str] = collections.Counter()
        for name, n in by_function.items():
            packages[name.split(":")[0].split("/")[0]] += n
        total = sum(by_function.values())
        print(f"  calls per transfer by package (of {total / 21:,.0f}):")
        for name, n in packages.most_common(args.top):
            print(f"    {n / 21:8,.0f}  {name}")
        print("  by function:")
        chosen = [(k, v) for k, v in by_function.most_common() if k.startswith(args.only)]
        for name, n in chosen[: args.top]:
            print(f"    {n / 21:8,.0f}  {name}")
    return 0


def _replanned_statements(db: Any) -> list[tuple[int, int, str]]:
    """Prepared statements of the pool's connections that PostgreSQL planned afresh more
    often than it reused a generic plan (pg_prepared_statements, PostgreSQL 14+)."""
    from sqlalchemy import text

    query = text(
        "SELECT custom_plans, generic_plans, left(regexp_replace(statement, '\\s+', ' ', 'g'), 100)"
        " FROM pg_prepared_statements WHERE custom_plans > generic_plans AND custom_plans > 5"
    )
    found: dict[str, tuple[int, int, str]] = {}
    connections = [db.engine.connect() for _ in range(max(1, db.engine.pool.checkedin()))]
    try:
        for connection in connections:
            for custom, generic, statement in connection.execute(query):
                found[statement] = (custom, generic, statement)
    finally:
        for connection in connections:
            connection.close()
    return sorted(found.values(), reverse=True)


def _short(filename: str) -> str:
    """site-packages/fastapi/routing.py -> fastapi/routing.py; src/wangyin/db.py -> wangyin/db.py"""
    for marker in ("site-packages/", "/src/", "/lib/python3."):
        if marker in filename:
            tail = filename.split(marker, 1)[1]
            return tail.split("/", 1)[1] if marker == "/lib/python3." else tail
    return filename


if __name__ == "__main__":
    raise SystemExit(main())
