"""Transfer throughput benchmark: in-process service, HTTP end to end, and pgbench baseline.

Run from the repository root:

    .venv/bin/python bench/transfers.py [--db sqlite|postgresql|both] [--clients 8]
                                        [--seconds 10] [--workers 2] [--hot] ...
    .venv/bin/wangyin bench [same options]

Everything runs on 127.0.0.1, every phase is bounded by --seconds, nothing is asserted:
the script prints figures (see bench/README.md for what each one means).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing as mp
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_DB = "wangyin_bench"
PGBENCH_DB = "wangyin_pgbench"
PASSWORD = "Bench@Wangyin2026"  # noqa: S105 - a throwaway password for throwaway users
PIN = "147258"  # the bench customers' transaction password
# What the benchmark's server and in-process clients run with: password-free payments up
# to any daily total (the amounts are 0.01–9.99 CNY, under the per-transfer maximum) so the
# default phases measure the money path; --second-factor measures PIN + SMS code instead.
# Rate limits are off (one IP logs in every client) and fields may travel unencrypted
# (the benchmark's httpx client does not do the channel handshake).
BENCH_ENV = {
    "WANGYIN_PASSWORD_FREE_DAILY_MAX_MINOR": str(10**15),
    "WANGYIN_RATELIMIT_ENABLED": "false",
    "WANGYIN_CHANNEL_ENCRYPTION": "optional",
    "WANGYIN_OTP_DAILY_CAP": str(10**9),
}
FUNDING_MINOR = 10**13  # 100 billion CNY per account: never the limiting factor
WARMUP_SECONDS = 1.5

# fork keeps the children cheap and works the same under `wangyin bench` (runpy).
CTX = mp.get_context("fork")


# ---------------------------------------------------------------------------------------
# Statistics


def quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


@dataclass
class Samples:
    """Completion time and latency of every transfer finished inside the window."""

    window: tuple[float, float]
    done: list[tuple[float, float]] = field(default_factory=list)  # (t_done, latency_s)
    steps: dict[str, list[float]] = field(default_factory=dict)  # step -> latencies
    errors: dict[str, int] = field(default_factory=dict)
    client_cpu_s: float = 0.0
    machine_cpu: float = float("nan")  # share of all CPUs busy during the window

    def merge(self, other: dict[str, Any]) -> None:
        self.done.extend(other["done"])
        for step, values in other["steps"].items():
            self.steps.setdefault(step, []).extend(values)
        for key, count in other["errors"].items():
            self.errors[key] = self.errors.get(key, 0) + count
        self.client_cpu_s += other.get("cpu", 0.0)

    @property
    def seconds(self) -> float:
        return self.window[1] - self.window[0]

    @property
    def rate(self) -> float:
        return len(self.done) / self.seconds if self.seconds > 0 else 0.0

    def latency_ms(self) -> tuple[float, float]:
        values = sorted(lat for _, lat in self.done)
        return quantile(values, 0.5) * 1000, quantile(values, 0.99) * 1000

    def step_ms(self, step: str) -> tuple[float, float]:
        values = sorted(self.steps.get(step, []))
        return quantile(values, 0.5) * 1000, quantile(values, 0.99) * 1000

    def slices(self, count: int) -> list[float]:
        start, end = self.window
        width = (end - start) / count
        buckets = [0] * count
        for t_done, _ in self.done:
            index = int((t_done - start) / width)
            if 0 <= index < count:
                buckets[index] += 1
        return [b / width for b in buckets]


def record(bucket: dict[str, Any], window: tuple[float, float], started: float, ended: float,
           steps: dict[str, float]) -> None:
    if started >= window[0] and ended <= window[1]:
        bucket["done"].append((ended, ended - started))
        for step, latency in steps.items():
            bucket["steps"].setdefault(step, []).append(latency)


def count_error(bucket: dict[str, Any], key: str) -> None:
    bucket["errors"][key] = bucket["errors"].get(key, 0) + 1


def new_bucket() -> dict[str, Any]:
    return {"done": [], "steps": {}, "errors": {}, "cpu": 0.0}


# ---------------------------------------------------------------------------------------
# Databases


def pg_url_for(base: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(base).set(drivername="postgresql", database=database)
    return url.render_as_string(hide_password=False)


def pg_recreate(base: str, database: str) -> str:
    import psycopg

    with psycopg.connect(pg_url_for(base, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    return pg_url_for(base, database)


def pg_version(base: str) -> str:
    import psycopg

    with psycopg.connect(pg_url_for(base, "postgres")) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


@dataclass
class Target:
    kind: str  # "sqlite" | "postgresql"
    url: str = ""
    tmpdir: str = ""

    def fresh(self, pg_base: str) -> str:
        """Drop and recreate the benchmark database, migrate it, return its URL."""
        from wangyin.migrate import upgrade

        if self.kind == "postgresql":
            self.url = pg_recreate(pg_base, BENCH_DB)
        else:
            if self.tmpdir:
                shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = tempfile.mkdtemp(prefix="wangyin-bench-")
            self.url = f"sqlite:///{self.tmpdir}/bench.db"
        upgrade(self.url)
        logging.getLogger("alembic").setLevel(logging.WARNING)
        return self.url

    def cleanup(self, pg_base: str) -> None:
        if self.kind == "sqlite" and self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# Fixture: professional customers, two funded CNY accounts each, logins with real hashes


@dataclass
class Acct:
    id: int
    public_id: str
    number: str
    ledger_id: int


@dataclass
class Cust:
    id: int
    user_id: int
    username: str
    name: str
    accounts: list[Acct]
    mobile: str = ""


def seed(url: str, *, customers: int, per_customer: int, password_free: bool = True
         ) -> list[Cust]:
    from wangyin.accounts import service as accounts
    from wangyin.db import Database
    from wangyin.identity.models import Customer, Device, User
    from wangyin.identity.passwords import hash_password
    from wangyin.identity.validators import id_check_digit
    from wangyin.ids import new_public_id
    from wangyin.ledger import service as ledger
    from wangyin.uow import run_write

    now = datetime.now(UTC) - timedelta(days=60)
    password_hash = hash_password(PASSWORD)
    pin_hash = hash_password(PIN)

    def action(s: Any) -> list[Cust]:
        cash = ledger.internal_account(s, purpose="CASH", currency="CNY", at=now)
        out: list[Cust] = []
        for i in range(customers):
            id17 = f"11010519800101{i:03d}"
            customer = Customer(
                public_id=new_public_id(), name=f"压测客户{i:02d}",
                id_number=id17 + id_check_digit(id17), mobile=f"139{i:08d}", created_at=now,
            )
            s.add(customer)
            s.flush()
            owned: list[Acct] = []
            for _ in range(per_customer):
                account = accounts.open_account(
                    s, customer_id=customer.id, kind="current", currency="CNY", at=now,
                    nickname="压测",
                )
                ledger.post(
                    s, kind="deposit", at=now, description="bench funding",
                    legs=[
                        ledger.Leg(cash.id, -FUNDING_MINOR, "CNY"),
                        ledger.Leg(account.ledger_account_id, FUNDING_MINOR, "CNY"),
                    ],
                )
                owned.append(Acct(account.id, account.public_id, account.account_number,
                                  account.ledger_account_id))
            user = User(
                public_id=new_public_id(), customer_id=customer.id, username=f"bench{i:02d}",
                password_hash=password_hash, edition="professional", status="active",
                created_at=now, password_changed_at=now, upgraded_at=now,
                transaction_pin_hash=pin_hash,
                password_free_single_minor=1_000_00 if password_free else 0,
                password_free_daily_minor=10**15 if password_free else 0,
            )
            s.add(user)
            s.flush()
            # A bound device, so logins need no code (a returning customer's phone).
            s.add(Device(public_id=new_public_id(), user_id=user.id,
                         device_id=f"bench-device-{user.username}", label="bench",
                         bound_at=now, last_seen_at=now))
            out.append(Cust(customer.id, user.id, user.username, customer.name, owned,
                            customer.mobile))
        return out

    db = Database(url)
    try:
        return run_write(db, action)
    finally:
        db.dispose()


def pregrow_history(url: str, custs: list[Cust], *, postings: int) -> float:
    """Give the hot account `postings` past debits (completed transfers over the last 30
    days, each with its journal entry and both postings), consistently with its balance.
    Bulk-inserted with explicit ids; returns the seconds it took."""
    from sqlalchemy import func, insert, select, text, update

    from wangyin.db import Database
    from wangyin.ids import new_public_id
    from wangyin.ledger.models import JournalEntry, LedgerAccount, Posting
    from wangyin.payments.models import COMPLETED, TransferRequest

    began = time.perf_counter()
    hot_cust, hot = custs[0], custs[0].accounts[0]
    others = [(c, a) for c in custs for a in c.accounts if a.id != hot.id]
    db = Database(url)
    now = datetime.now(UTC)
    rng = random.Random(7)
    batch = 5000
    with db.engine.begin() as conn:
        balances = dict(conn.execute(select(LedgerAccount.id, LedgerAccount.balance_minor)).all())
        entry_id = (conn.execute(select(func.max(JournalEntry.id))).scalar() or 0) + 1
        posting_id = (conn.execute(select(func.max(Posting.id))).scalar() or 0) + 1
        transfer_id = (conn.execute(select(func.max(TransferRequest.id))).scalar() or 0) + 1
        made = 0
        while made < postings:
            entries, lines, transfers = [], [], []
            for _ in range(min(batch, postings - made)):
                payee_cust, payee = others[made % len(others)]
                amount = rng.randint(1, 100)
                at = now - timedelta(days=30) + timedelta(seconds=made * 25 * 86400 / postings)
                entries.append({"id": entry_id, "public_id": new_public_id(), "kind": "transfer",
                                "description": "bench history",
                                "idempotency_key": f"transfer:hist-{entry_id}",
                                "request_digest": "0" * 64, "created_at": at})
                for la, sign, who in ((hot.ledger_id, -1, payee_cust.name),
                                      (payee.ledger_id, 1, hot_cust.name)):
                    balances[la] += sign * amount
                    lines.append({"id": posting_id, "public_id": new_public_id(),
                                  "entry_id": entry_id, "ledger_account_id": la,
                                  "amount_minor": sign * amount, "currency": "CNY",
                                  "balance_after_minor": balances[la], "memo": "转账",
                                  "counterparty_name": who, "counterparty_account": "",
                                  "created_at": at})
                    posting_id += 1
                transfers.append({"id": transfer_id, "public_id": new_public_id(),
                                  "customer_id": hot_cust.id, "user_id": hot_cust.user_id,
                                  "from_account_id": hot.id, "to_account_id": payee.id,
                                  "payee_name": payee_cust.name, "amount_minor": amount,
                                  "currency": "CNY", "remark": "", "status": COMPLETED,
                                  "key_digest": "0" * 64, "created_at": at,
                                  "expires_at": at + timedelta(minutes=5),
                                  "confirmed_at": at, "journal_entry_id": entry_id})
                entry_id += 1
                transfer_id += 1
                made += 1
            conn.execute(insert(JournalEntry), entries)
            conn.execute(insert(Posting), lines)
            conn.execute(insert(TransferRequest), transfers)
        for la, balance in balances.items():
            conn.execute(update(LedgerAccount).where(LedgerAccount.id == la)
                         .values(balance_minor=balance))
        if db.engine.dialect.name == "postgresql":
            for table in ("journal_entries", "postings", "transfer_requests"):
                conn.execute(text(  # a fixed table name, not input
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT max(id) FROM {table}))"))
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    db.dispose()
    return time.perf_counter() - began


# ---------------------------------------------------------------------------------------
# Workload: who pays whom


@dataclass
class Plan:
    custs: list[Cust]
    hot: bool
    second_factor: bool = False
    url: str = ""

    def payer(self, client: int) -> Cust:
        return self.custs[0] if self.hot else self.custs[client % len(self.custs)]

    def pick(self, rng: random.Random, client: int) -> tuple[Cust, Acct, Cust, Acct]:
        """(payer, from account, payee, to account) for one transfer by `client`."""
        payer = self.payer(client)
        source = payer.accounts[0] if self.hot else rng.choice(payer.accounts)
        while True:
            payee = rng.choice(self.custs)
            target = rng.choice(payee.accounts)
            if target.id != source.id:
                return payer, source, payee, target


def amount_text(rng: random.Random) -> str:
    cents = rng.randint(1, 999)
    return f"{cents // 100}.{cents % 100:02d}"


# ---------------------------------------------------------------------------------------
# (a) In-process: one OS process per client, each with its own engine


def inproc_worker(mode: str, url: str, plan: Plan, client: int, window: tuple[float, float],
                  out: Any) -> None:
    logging.disable(logging.CRITICAL)
    from wangyin.config import Settings
    from wangyin.db import Database
    from wangyin.errors import DomainError
    from wangyin.ledger import service as ledger
    from wangyin.payments import service as payments
    from wangyin.uow import run_write

    rng = random.Random(client * 7919 + int(window[0]))
    settings = Settings(database_url=url, password_free_daily_max_minor=10**15,
                        otp_daily_cap=10**9)
    db = Database(url, pool_size=2)
    bucket = new_bucket()
    cpu0: float | None = None
    try:
        while True:
            started = time.time()
            if started >= window[1]:
                break
            if cpu0 is None and started >= window[0]:
                cpu0 = time.process_time()
            payer, source, payee, target = plan.pick(rng, client)
            amount = amount_text(rng)
            steps: dict[str, float] = {}
            try:
                if mode == "post":
                    minor = int(amount.replace(".", ""))
                    legs = [ledger.Leg(source.ledger_id, -minor, "CNY", memo="bench"),
                            ledger.Leg(target.ledger_id, minor, "CNY", memo="bench")]
                    run_write(db, lambda s, legs=legs: ledger.post(
                        s, kind="transfer", legs=legs, at=datetime.now(UTC)))
                else:
                    def do_prepare(s: Any, payer=payer, source=source, payee=payee,
                                   target=target, amount=amount) -> str:
                        return payments.prepare(
                            s, customer_id=payer.id, user_id=payer.user_id,
                            from_account_id=source.public_id, to_account_number=target.number,
                            payee_name=payee.name, amount=amount, currency="CNY",
                            remark="bench", at=datetime.now(UTC), settings=settings,
                        ).public_id

                    transfer_id = run_write(db, do_prepare)
                    mid = time.time()
                    run_write(db, lambda s, tid=transfer_id, payer=payer: payments.confirm(
                        s, customer_id=payer.id, transfer_id=tid, key_digest=None,
                        at=datetime.now(UTC), settings=settings))
                    steps = {"prepare": mid - started, "confirm": time.time() - mid}
            except DomainError as exc:
                count_error(bucket, f"DomainError:{exc.code}")
                continue
            except Exception as exc:  # a benchmark counts failures instead of stopping
                count_error(bucket, type(exc).__name__)
                continue
            record(bucket, window, started, time.time(), steps)
        bucket["cpu"] = time.process_time() - (cpu0 or time.process_time())
    finally:
        db.dispose()
        out.put(bucket)


def run_processes(target: Any, args_for: list[tuple[Any, ...]], window: tuple[float, float]
                  ) -> Samples:
    out = CTX.Queue()
    procs = [CTX.Process(target=target, args=(*args, out), daemon=True) for args in args_for]
    for proc in procs:
        proc.start()
    samples = Samples(window=window)
    while time.time() < window[0]:
        time.sleep(0.02)
    with CpuMeter() as cpu:
        for _ in procs:
            try:
                samples.merge(out.get(timeout=max(1.0, window[1] + 120 - time.time())))
            except Exception:
                samples.errors["worker_lost"] = samples.errors.get("worker_lost", 0) + 1
    samples.machine_cpu = cpu.busy
    for proc in procs:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
    return samples


def run_inproc(mode: str, url: str, plan: Plan, clients: int, seconds: float) -> Samples:
    start = time.time() + WARMUP_SECONDS + 0.5
    window = (start, start + seconds)
    return run_processes(inproc_worker,
                         [(mode, url, plan, c, window) for c in range(clients)], window)


# ---------------------------------------------------------------------------------------
# (b) HTTP end to end against `wangyin serve`


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`wangyin serve --workers N` in its own process group, stopped on exit."""

    def __init__(self, url: str, workers: int, logdir: str,
                 env: dict[str, str] | None = None) -> None:
        self.url = url
        self.workers = workers
        self.env = env or {}
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(logdir) / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.command = ""

    def _launch(self, command: list[str]) -> bool:
        """Start `command`; True once /readyz answers, False if the process exits or hangs."""
        import httpx

        env = {**os.environ, **BENCH_ENV, **self.env, "WANGYIN_DATABASE_URL": self.url}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
                command, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=ROOT,
            )
        deadline = time.time() + 60
        while time.time() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(self.base + "/readyz", timeout=2).status_code == 200:
                    # the first worker answers: give the others a moment to come up too
                    time.sleep(1.0)
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        return False

    def start(self, attempts: int = 3) -> None:
        serve = [str(BIN / "wangyin"), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", str(self.workers)]
        fallback = [sys.executable, str(Path(__file__).with_name("_serve.py")), "127.0.0.1",
                    str(self.port), str(self.workers)]
        for attempt in range(1, attempts + 1):
            self.log_path.write_bytes(b"")
            if self._launch(serve):
                self.command = "wangyin serve"
                return
            tail = self.log_path.read_text(errors="replace")
            if "unexpected keyword argument 'target'" in tail:
                print("  `wangyin serve --workers N` is broken (src/wangyin/cli.py passes "
                      "target= to uvicorn's Multiprocess); using bench/_serve.py, the same "
                      "server with the supervisor called as uvicorn does", flush=True)
                if self._launch(fallback):
                    self.command = "bench/_serve.py (wangyin serve with the supervisor fixed)"
                    return
                tail = self.log_path.read_text(errors="replace")
            print(f"  server did not start (attempt {attempt}); log tail:\n{tail[-1500:]}",
                  flush=True)
            if attempt < attempts:
                print("  (someone may be editing src/: retrying in 60 s)", flush=True)
                time.sleep(60)
        raise RuntimeError("wangyin serve did not start")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.proc = None


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler(threading.Thread):
    """Peak VmRSS of a process and all its descendants, sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = pid
        self.peak_per_pid: dict[int, int] = {}
        self.peak_total = 0
        self.stopped = threading.Event()

    def tree(self) -> list[int]:
        kids, pids, todo = _children(), [], [self.root]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            todo.extend(kids.get(pid, []))
        return pids

    def run(self) -> None:
        while not self.stopped.is_set():
            total = 0
            for pid in self.tree():
                rss = _rss_kib(pid)
                total += rss
                self.peak_per_pid[pid] = max(self.peak_per_pid.get(pid, 0), rss)
            self.peak_total = max(self.peak_total, total)
            self.stopped.wait(0.2)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)

    @property
    def peak_process_mib(self) -> float:
        return max(self.peak_per_pid.values(), default=0) / 1024

    @property
    def peak_total_mib(self) -> float:
        return self.peak_total / 1024


class CpuMeter:
    """Share of all CPUs busy (from /proc/stat) while the block runs."""

    busy = float("nan")

    @staticmethod
    def _read() -> tuple[int, int]:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields), idle

    def __enter__(self) -> CpuMeter:
        self.t0, self.i0 = self._read()
        return self

    def __exit__(self, *exc: object) -> None:
        t1, i1 = self._read()
        self.busy = 1 - (i1 - self.i0) / max(1, t1 - self.t0)


_code_db: dict[str, Any] = {}


def read_code(url: str, phone: str) -> str:
    """The code the bank just texted (read from the outbox, as the customer's phone would)."""
    import re

    from wangyin.db import Database
    from wangyin.notify import service as notify
    from wangyin.uow import run_read

    db = _code_db.setdefault(url, Database(url, pool_size=2))
    text = run_read(db, lambda s: next(
        notify.body_of(m) for m in notify.messages_to(s, phone=phone, limit=10)
        if m.purpose != "balance_change"))
    found = re.search(r"\b(\d{6})\b", text)
    return found.group(1) if found else ""


async def _http_client(base: str, plan: Plan, clients: list[int], window: tuple[float, float],
                       bucket: dict[str, Any]) -> None:
    import httpx

    limits = httpx.Limits(max_connections=len(clients), max_keepalive_connections=len(clients))
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:

        async def login(client: int) -> str:
            for _ in range(20):
                username = plan.payer(client).username
                resp = await http.post("/api/v1/auth/login", json={
                    "login": username, "password": PASSWORD},
                    headers={"X-Device-Id": f"bench-device-{username}"})
                if resp.status_code == 200 and resp.json().get("token"):
                    return str(resp.json()["token"])
                await asyncio.sleep(0.5)
            raise RuntimeError(f"login failed: {resp.status_code} {resp.text[:200]}")

        tokens = await asyncio.gather(*(login(c) for c in clients))

        async def loop(client: int, token: str) -> None:
            rng = random.Random(client * 104729 + int(window[0]))
            auth = {"Authorization": f"Bearer {token}",
                    "X-Device-Id": f"bench-device-{plan.payer(client).username}"}
            while True:
                started = time.time()
                if started >= window[1]:
                    return
                _, source, payee, target = plan.pick(rng, client)
                body = {"from_account_id": source.public_id, "to_account_number": target.number,
                        "payee_name": payee.name, "amount": amount_text(rng),
                        "currency": "CNY", "remark": "bench"}
                try:
                    resp = await http.post("/api/v1/transfers", json=body, headers={
                        **auth, "Idempotency-Key": uuid.uuid4().hex})
                    if resp.status_code != 201:
                        count_error(bucket, f"prepare {resp.status_code}")
                        continue
                    mid = time.time()
                    transfer = resp.json()
                    confirm_body: dict[str, Any] = {"key_digest": transfer["key_digest"]}
                    if plan.second_factor:
                        sent = await http.post(f"/api/v1/transfers/{transfer['id']}/code",
                                               headers=auth)
                        if sent.status_code != 204:
                            count_error(bucket, f"code {sent.status_code}")
                            continue
                        code = await asyncio.to_thread(
                            read_code, plan.url, plan.payer(client).mobile)
                        confirm_body |= {"transaction_password": PIN, "code": code}
                    resp = await http.post(
                        f"/api/v1/transfers/{transfer['id']}/confirm",
                        json=confirm_body,
                        headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
                    )
                    if resp.status_code != 200 or resp.json().get("status") != "COMPLETED":
                        count_error(bucket, f"confirm {resp.status_code}")
                        continue
                except httpx.HTTPError as exc:
                    count_error(bucket, type(exc).__name__)
                    await asyncio.sleep(0.05)  # a dead server must not turn this into a spin
                    continue
                ended = time.time()
                record(bucket, window, started, ended,
                       {"prepare": mid - started, "confirm": ended - mid})

        async def cpu_mark() -> None:
            await asyncio.sleep(max(0.0, window[0] - time.time()))
            cpu0 = time.process_time()
            await asyncio.sleep(max(0.0, window[1] - time.time()))
            bucket["cpu"] = time.process_time() - cpu0

        await asyncio.gather(
            cpu_mark(), *(loop(c, t) for c, t in zip(clients, tokens, strict=True))
        )


async def _login_client(base: str, plan: Plan, clients: list[int],
                        window: tuple[float, float], bucket: dict[str, Any]) -> None:
    """Password logins from bound devices, back to back (Argon2id on the server)."""
    import httpx

    limits = httpx.Limits(max_connections=len(clients), max_keepalive_connections=len(clients))
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:

        async def loop(client: int) -> None:
            username = plan.payer(client).username
            while True:
                started = time.time()
                if started >= window[1]:
                    return
                try:
                    resp = await http.post(
                        "/api/v1/auth/login", json={"login": username, "password": PASSWORD},
                        headers={"X-Device-Id": f"bench-device-{username}"})
                except httpx.HTTPError as exc:
                    count_error(bucket, type(exc).__name__)
                    await asyncio.sleep(0.05)
                    continue
                if resp.status_code != 200 or not resp.json().get("token"):
                    count_error(bucket, f"login {resp.status_code}")
                    continue
                record(bucket, window, started, time.time(), {})

        await asyncio.gather(*(loop(c) for c in clients))


def _wangyin_clients(base: str, plan: Plan, clients: list[int],
                     window: tuple[float, float], bucket: dict[str, Any]) -> None:
    """Customers as `wangyin.client` drives them: channel handshake, encrypted fields,
    transaction password + SMS code for every transfer. One thread per client."""
    import threading

    from wangyin.client import WangyinClient

    lock = threading.Lock()

    def run(client: int) -> None:
        payer = plan.payer(client)
        rng = random.Random(client * 7 + int(window[0]))
        with WangyinClient(base, device_id=f"bench-device-{payer.username}",
                           timeout=60) as api:
            try:
                api.handshake()
                api.login(payer.username, PASSWORD)
            except Exception as exc:
                with lock:
                    count_error(bucket, f"login: {exc}"[:120])
                return
            while True:
                started = time.time()
                if started >= window[1]:
                    return
                _, source, payee, target = plan.pick(rng, client)
                try:
                    t = api.prepare_transfer(
                        from_account_id=source.public_id, to_account_number=target.number,
                        payee_name=payee.name, amount=amount_text(rng), currency="CNY",
                        remark="bench")
                    mid = time.time()
                    api.send_transfer_code(t["id"])
                    done = api.confirm_transfer(
                        t["id"], key_digest=t["key_digest"], transaction_password=PIN,
                        code=read_code(plan.url, payer.mobile))
                    ok = done.get("status") == "COMPLETED"
                except Exception as exc:  # a benchmark counts failures instead of stopping
                    with lock:
                        count_error(bucket, type(exc).__name__)
                    time.sleep(0.05)
                    continue
                with lock:
                    if ok:
                        record(bucket, window, started, time.time(),
                               {"prepare": mid - started, "confirm": time.time() - mid})
                    else:
                        count_error(bucket, "not completed")

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def http_worker(base: str, plan: Plan, clients: list[int], window: tuple[float, float],
                out: Any, mode: str = "transfer") -> None:
    logging.disable(logging.CRITICAL)
    bucket = new_bucket()
    try:
        if mode == "login":
            asyncio.run(_login_client(base, plan, clients, window, bucket))
        elif mode == "client":
            _wangyin_clients(base, plan, clients, window, bucket)
        else:
            asyncio.run(_http_client(base, plan, clients, window, bucket))
    except Exception as exc:
        count_error(bucket, f"client crashed: {exc!r}"[:200])
    out.put(bucket)


def run_http(url: str, plan: Plan, clients: int, seconds: float, *, workers: int,
             client_procs: int, logdir: str, mode: str = "transfer"
             ) -> tuple[Samples, RssSampler, str]:
    # The wangyin.client phase runs the real protocol: encrypted fields required.
    server = Server(url, workers, logdir,
                    {"WANGYIN_CHANNEL_ENCRYPTION": "required"} if mode == "client" else None)
    server.start()
    try:
        procs = max(1, min(client_procs, clients))
        groups = [list(range(clients))[i::procs] for i in range(procs)]
        # logins (argon2 on the server) happen before the window opens
        start = time.time() + WARMUP_SECONDS + 1.0 + 0.15 * clients
        window = (start, start + seconds)
        if server.proc is None:
            raise RuntimeError("server not running")
        out = CTX.Queue()
        children = [CTX.Process(target=http_worker,
                                args=(server.base, plan, g, window, out, mode),
                                daemon=True) for g in groups]
        for child in children:  # forked before any thread of ours starts
            child.start()
        sampler = RssSampler(server.proc.pid)
        sampler.start()
        samples = Samples(window=window)
        while time.time() < window[0]:
            time.sleep(0.05)
        with CpuMeter() as cpu:
            for _ in children:
                try:
                    samples.merge(out.get(timeout=max(1.0, window[1] + 120 - time.time())))
                except Exception:
                    samples.errors["client_lost"] = samples.errors.get("client_lost", 0) + 1
        samples.machine_cpu = cpu.busy
        sampler.stop()
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.kill()
        if samples.errors:
            tail = server.log_path.read_text(errors="replace")[-3000:]
            print(f"  errors seen; server log {server.log_path} ends with:\n{tail}", flush=True)
        return samples, sampler, server.command
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------
# pgbench baseline


def run_pgbench(pg_base: str, clients: int, seconds: int, scale: int) -> tuple[float, str]:
    url = pg_recreate(pg_base, PGBENCH_DB)
    subprocess.run(["pgbench", "-i", "-q", "-s", str(scale), url],  # noqa: S603,S607
                   check=True, capture_output=True, text=True)
    result = subprocess.run(  # noqa: S603
        ["pgbench", "-c", str(clients), "-j", str(clients), "-T", str(seconds), url],  # noqa: S607
        check=True, capture_output=True, text=True,
    )
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", result.stdout)
    if not match:
        match = re.search(r"tps = ([0-9.]+)", result.stdout)
    if not match:
        raise RuntimeError(f"could not parse pgbench output:\n{result.stdout}")
    return float(match.group(1)), result.stdout


# ---------------------------------------------------------------------------------------
# Reporting


@dataclass
class Row:
    db: str
    phase: str
    samples: Samples
    rss: RssSampler | None = None
    note: str = ""


def describe(row: Row, slices: int, pgbench_tps: float | None) -> dict[str, Any]:
    s = row.samples
    p50, p99 = s.latency_ms()
    out: dict[str, Any] = {
        "db": row.db, "phase": row.phase, "transfers": len(s.done),
        "transfers_per_s": round(s.rate, 1), "p50_ms": round(p50, 2), "p99_ms": round(p99, 2),
        "slices_per_s": [round(v, 1) for v in s.slices(slices)],
        "errors": s.errors,
        "machine_cpu_busy": round(s.machine_cpu, 3),
        "client_cpu_core_share": round(s.client_cpu_s / s.seconds, 3) if s.seconds else None,
    }
    for step in sorted(s.steps):
        sp50, sp99 = s.step_ms(step)
        out[f"{step}_p50_ms"], out[f"{step}_p99_ms"] = round(sp50, 2), round(sp99, 2)
    if pgbench_tps:
        out["ratio_to_pgbench"] = round(s.rate / pgbench_tps, 3)
    if row.rss is not None:
        out["server_processes"] = len(row.rss.peak_per_pid)
        out["peak_rss_process_mib"] = round(row.rss.peak_process_mib, 1)
        out["peak_rss_total_mib"] = round(row.rss.peak_total_mib, 1)
    if row.note:
        out["note"] = row.note
    return out


def print_row(d: dict[str, Any]) -> None:
    ratio = f"  = {d['ratio_to_pgbench']:.1%} of pgbench" if "ratio_to_pgbench" in d else ""
    unit = "logins/s   " if d["phase"].startswith("HTTP logins") else "transfers/s"
    print(f"  {d['db']:<10} {d['phase']:<34} {d['transfers_per_s']:>8.1f} {unit}  "
          f"p50 {d['p50_ms']:>7.2f} ms  p99 {d['p99_ms']:>8.2f} ms{ratio}", flush=True)
    extra = [f"slices/s {d['slices_per_s']}"]
    if "prepare_p50_ms" in d:
        extra.append(f"prepare p50/p99 {d['prepare_p50_ms']}/{d['prepare_p99_ms']} ms, "
                     f"confirm p50/p99 {d['confirm_p50_ms']}/{d['confirm_p99_ms']} ms")
    print("      " + "; ".join(extra), flush=True)
    extra = [f"CPU busy {d['machine_cpu_busy']:.0%} of {os.cpu_count()} cores",
             f"load-generator CPU {d['client_cpu_core_share']:.2f} core"]
    if "peak_rss_process_mib" in d:
        extra.append(f"server peak RSS {d['peak_rss_process_mib']} MiB/process, "
                     f"{d['peak_rss_total_mib']} MiB total over {d['server_processes']} processes")
    print("      " + "; ".join(extra), flush=True)
    errors = d["errors"]
    busy = sum(v for k, v in errors.items()
               if re.search(r" (5\d\d|409)$", k) or k.endswith(":busy"))
    print(f"      errors {errors or 'none'} (5xx/409/busy: {busy})", flush=True)
    if d.get("note"):
        print(f"      {d['note']}", flush=True)


# ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--seconds", type=int, default=10, help="measured seconds per phase")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="`wangyin serve --workers` (default: number of CPUs)")
    parser.add_argument("--client-procs", type=int, default=2,
                        help="OS processes that share the HTTP clients (asyncio in each)")
    parser.add_argument("--customers", type=int, default=10)
    parser.add_argument("--accounts-per-customer", type=int, default=2)
    parser.add_argument("--second-factor", action="store_true",
                        help="confirm with transaction password + SMS code (HTTP phase)")
    parser.add_argument("--hot", action="store_true",
                        help="every transfer debits one single account; also re-run the "
                             "service and HTTP phases on a pre-grown history")
    parser.add_argument("--history", type=int, default=100_000,
                        help="postings pre-grown on the hot account for --hot (default 100000)")
    parser.add_argument("--slices", type=int, default=5, help="time slices per phase")
    parser.add_argument("--phases", default="post,service,http,login",
                        help="comma list of post,service,http (default: all)")
    parser.add_argument("--no-pgbench", action="store_true")
    parser.add_argument("--pgbench-scale", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also write all figures to this file")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("wangyin").setLevel(logging.WARNING)
    pg_base = os.environ.get("WANGYIN_BENCH_PG_URL", DEFAULT_PG)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    logdir = tempfile.mkdtemp(prefix="wangyin-bench-logs-")

    print(f"wangyin transfer benchmark: db={args.db} clients={args.clients} "
          f"seconds={args.seconds} workers={args.workers} hot={args.hot} "
          f"cpus={os.cpu_count()}", flush=True)
    results: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()},
                               "started": datetime.now(UTC).isoformat(), "rows": []}
    pgbench_tps: float | None = None
    if "postgresql" in kinds:
        results["postgresql_version"] = pg_version(pg_base)
        if not args.no_pgbench:
            print(f"pgbench -i -s {args.pgbench_scale}; pgbench -c {args.clients} "
                  f"-j {args.clients} -T {args.seconds} (TPC-B-like) …", flush=True)
            pgbench_tps, _ = run_pgbench(pg_base, args.clients, args.seconds,
                                            args.pgbench_scale)
            results["pgbench_tps"] = pgbench_tps
            print(f"  pgbench: {pgbench_tps:.1f} tps", flush=True)

    def report(row: Row) -> None:
        d = describe(row, args.slices, pgbench_tps if row.db == "postgresql" else None)
        results["rows"].append(d)
        print_row(d)

    variants = [("", 0)]
    if args.hot:
        variants.append((f" +{args.history // 1000}k history", args.history))
    for kind in kinds:
        target = Target(kind)
        try:
            for suffix, history in variants:
                for phase in phases:
                    if history and phase in ("post", "login", "client"):
                        continue
                    url = target.fresh(pg_base)
                    custs = seed(url, customers=args.customers,
                                 per_customer=args.accounts_per_customer,
                                 password_free=not args.second_factor)
                    note = ""
                    if history:
                        took = pregrow_history(url, custs, postings=history)
                        note = f"hot account pre-grown with {history} debits in {took:.0f} s"
                    plan = Plan(custs, args.hot, args.second_factor, url)
                    with CpuMeter() as idle:  # others' load on this machine, for the record
                        time.sleep(1.0)
                    note = (note + "; " if note else "") + (
                        f"CPU busy before the phase (not ours): {idle.busy:.0%}")
                    hot = (" hot" if args.hot else "") + (
                        " +PIN+SMS code" if args.second_factor else "")
                    if phase == "post":
                        name = f"in-process ledger.post{hot}"
                        print(f"[{kind}] {name} …", flush=True)
                        report(Row(kind, name, run_inproc("post", url, plan, args.clients,
                                                          args.seconds), note=note))
                    elif phase == "service":
                        name = f"in-process prepare+confirm{hot}{suffix}"
                        print(f"[{kind}] {name} …", flush=True)
                        report(Row(kind, name, run_inproc("service", url, plan, args.clients,
                                                          args.seconds), note=note))
                    elif phase == "client":
                        name = "wangyin.client: encrypted, PIN + SMS code"
                        print(f"[{kind}] {name} (workers={args.workers}) …", flush=True)
                        samples, rss, command = run_http(url, plan, args.clients, args.seconds,
                                                workers=args.workers,
                                                client_procs=args.client_procs, logdir=logdir,
                                                mode="client")
                        report(Row(kind, name, samples, rss, note=note))
                    elif phase == "login":
                        name = "HTTP logins (Argon2id m=19 MiB t=2 p=1)"
                        print(f"[{kind}] {name} (workers={args.workers}) …", flush=True)
                        samples, rss, command = run_http(url, plan, args.clients, args.seconds,
                                                workers=args.workers,
                                                client_procs=args.client_procs, logdir=logdir,
                                                mode="login")
                        report(Row(kind, name, samples, rss, note=note))
                    elif phase == "http":
                        name = f"HTTP prepare+confirm{hot}{suffix}"
                        print(f"[{kind}] {name} (workers={args.workers}) …", flush=True)
                        samples, rss, command = run_http(url, plan, args.clients, args.seconds,
                                                workers=args.workers,
                                                client_procs=args.client_procs, logdir=logdir)
                        results["server_command"] = command
                        report(Row(kind, name, samples, rss,
                                   note=(note + "; " if note else "") + f"server: {command}"))
        finally:
            target.cleanup(pg_base)
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2))
        print(f"figures written to {args.json}")
    if not any(row["errors"] for row in results["rows"]):
        shutil.rmtree(logdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
