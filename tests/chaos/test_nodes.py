"""Two `wangyin serve` nodes behind HAProxy (issue 8 §4, 4.1.4-f, 6.2.1-a).

The cluster: a private PostgreSQL database, two nodes (`wangyin serve --drain-seconds`,
each its own process group) and Debian's HAProxy with the configuration rendered from
deploy/haproxy/haproxy.cfg.j2, health checks on /readyz. Every request of these tests
goes over real sockets.

- Sessions, rate limits and idempotency records live in the database: a customer logs in
  on node A, transfers on node B and through HAProxy, a confirm replayed on A answers
  what B answered, a logout on B ends the session on A, and failed logins alternating
  between the nodes meet one shared limit.
- Rolling restart: under transfer load through HAProxy, each node in turn gets SIGTERM,
  drains (HAProxy sees /readyz 503 and takes it out while it still serves), exits,
  starts again and is taken back; no request fails (no connection error, no 502/503, no
  lost session). Node a runs one uvicorn worker, node b two under uvicorn's supervisor.
- Expand migration: a throwaway revision adding a nullable column, written into a temporary
  copy of the migrations, is applied while the old code serves under load: no request
  fails and the nodes stay ready.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select

from factories import DEFAULT_PASSWORD, Person, make_person
from factories.bank import device_headers
from factories.fraud import rules_out_of_reach
from factories.transfers import latest_code
from wangyin.db import Database
from wangyin.migrate import MIGRATIONS_DIR, alembic_config, upgrade
from wangyin.ops.nodes import HealthCheck, Node, haproxy_config, haproxy_states
from wangyin.payments.models import TransferRequest
from wangyin.security.keys import load_keyring
from wangyin.uow import run_read, run_write
from wangyin.verify import verify_all

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "haproxy" / "haproxy.cfg.j2"
WANGYIN = Path(sys.executable).with_name("wangyin")
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
PG_ADMIN_URL = os.environ.get("WANGYIN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
API = "/api/v1"
STARTUP_SECONDS = 60
# Health checks every 300 ms, out after 2 misses, back after 2 answers: a drain of
# (300 * 3 + 1000) ms lets HAProxy take a node out before it stops listening.
CHECK = HealthCheck(inter_ms=300, fall=2, rise=2, timeout_ms=1000)
DRAIN_SECONDS = CHECK.drain_seconds() + 0.5
LOAD_CLIENTS = 4
PACE_SECONDS = 0.05  # each client's pause between transfers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(condition: Any, what: str, seconds: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(0.1)


@dataclass
class AppNode:
    name: str
    port: int
    env: dict[str, str]
    workdir: Path
    workers: int = 1
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}.{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    *(str(WANGYIN), "serve", "--host", "127.0.0.1", "--port", str(self.port)),
                    *("--workers", str(self.workers)),
                ],
                cwd=self.workdir,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited:\n{self.log.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        return False

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(10)


@dataclass
class Cluster:
    url: str
    db: Database
    nodes: list[AppNode]
    proxy: str
    stats: str

    def states(self) -> dict[str, str]:
        return haproxy_states(self.stats)

    def all_up(self) -> bool:
        states = self.states()
        return len(states) == len(self.nodes) and all(s == "UP" for s in states.values())


@contextlib.contextmanager
def _private_database() -> Iterator[str]:
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL unreachable ({exc})")
    name = f"wangyin_nodes_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG_ADMIN_URL.rpartition('/')[0]}/{name}"
    try:
        upgrade(url)
        # The nodes' clients pay back to back at any hour from fresh devices: the engine
        # runs, its decisions out of reach (this test is about nodes, not fraud rules).
        db = Database(url)
        try:
            run_write(db, lambda s: rules_out_of_reach(s, at=datetime.now(UTC)))
        finally:
            db.dispose()
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not Path(HAPROXY).exists():
        pytest.fail("haproxy is not installed: `make haproxy` installs Debian's package")
    workdir = tmp_path_factory.mktemp("nodes")
    with _private_database() as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WANGYIN_")}
        env |= {
            "NO_COLOR": "1",
            "WANGYIN_ENV": "dev",
            "WANGYIN_DATABASE_URL": url,
            "WANGYIN_DB_POOL_SIZE": "4",
            "WANGYIN_KEYRING": load_keyring().to_json(),  # this process's, for the factories
            "WANGYIN_DRAIN_SECONDS": str(DRAIN_SECONDS),
            "WANGYIN_GRACEFUL_TIMEOUT": "20",
            "WANGYIN_FORWARDED_ALLOW_IPS": "127.0.0.1",
            "WANGYIN_CHANNEL_ENCRYPTION": "optional",  # plain password over loopback
            "WANGYIN_PASSWORD_FREE_DAILY_MAX_MINOR": str(10**15),
            # The shared-limit test: 3 logins per login name a minute, over both nodes.
            "WANGYIN_RATELIMIT_LOGIN_PER_ACCOUNT": "3",
            "WANGYIN_RATELIMIT_LOGIN_PER_IP": "1000",
            "WANGYIN_RATELIMIT_CODE_PER_IP": "1000",  # night logins text a code each
        }
        # Node b runs two uvicorn workers under uvicorn's supervisor: both drain.
        nodes = [
            AppNode(name, _free_port(), env, workdir, workers=workers)
            for name, workers in (("a", 1), ("b", 2))
        ]
        proxy_port = _free_port()
        stats = str(workdir / "haproxy.sock")
        config = workdir / "haproxy.cfg"
        config.write_text(
            haproxy_config(
                nodes=[Node(n.name, f"127.0.0.1:{n.port}") for n in nodes],
                listen=f"127.0.0.1:{proxy_port}",
                check=CHECK,
                stats_socket=stats,
                log="stdout",  # into haproxy.log: a failed request's line says why
                template=TEMPLATE,
            )
        )
        checked = subprocess.run(
            [HAPROXY, "-c", "-q", "-f", str(config)], capture_output=True, timeout=30
        )
        assert checked.returncode == 0, checked.stderr.decode()
        db = Database(url, pool_size=4)
        proxy_log = (workdir / "haproxy.log").open("wb")
        proxy: subprocess.Popen[bytes] | None = None
        try:
            for node in nodes:
                node.start()
            proxy = subprocess.Popen(
                [HAPROXY, "-db", "-f", str(config)],
                stdout=proxy_log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            cluster = Cluster(url, db, nodes, f"http://127.0.0.1:{proxy_port}", stats)
            _wait(lambda: all(n.ready() for n in nodes), "nodes ready")
            _wait(lambda: os.path.exists(stats) and cluster.all_up(), "HAProxy sees both up")
            yield cluster
        finally:
            for node in nodes:
                node.signal(signal.SIGKILL)
                if node.proc is not None:
                    node.proc.wait(10)
            if proxy is not None:
                proxy.kill()
                proxy.wait(10)
            proxy_log.close()
            db.dispose()


# --- customers and their requests -----------------------------------------------------


def _people(db: Database, count: int) -> list[Person]:
    """Funded customers whose small transfers need no second factor."""

    def action(s: Any) -> list[Person]:
        people = [make_person(s, at=datetime.now(UTC)) for _ in range(count)]
        for person in people:
            person.user.password_free_single_minor = 1_000_00
            person.user.password_free_daily_minor = 10**15
        return people

    return run_write(db, action)


def _login(http: httpx.Client, base: str, person: Person, db: Database) -> dict[str, str]:
    """Password from the customer's bound phone; at night (00:00-06:00 in Shanghai) also
    the code texted to it, read back from the outbox. Returns the session's headers."""
    device = device_headers(person.username)
    answer = http.post(
        f"{base}{API}/auth/login",
        json={"login": person.username, "password": DEFAULT_PASSWORD},
        headers=device,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    if body["status"] == "challenge_required":
        challenge = body["challenge_id"]
        sent = http.post(
            f"{base}{API}/auth/login/code",
            json={"challenge_id": challenge, "channel": "sms"},
            headers=device,
        )
        assert sent.status_code == 204, sent.text
        code = run_read(db, lambda s: latest_code(s, person.customer.mobile))
        answer = http.post(
            f"{base}{API}/auth/login/verify",
            json={"challenge_id": challenge, "code": code},
            headers=device,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
    return {"Authorization": f"Bearer {body['token']}", "X-Device-Id": device["X-Device-Id"]}


def _transfer_body(payer: Person, payee: Person, amount: str) -> dict[str, str]:
    return {
        "from_account_id": payer.account.public_id,
        "to_account_number": payee.account.account_number,
        "payee_name": payee.name,
        "amount": amount,
        "currency": "CNY",
        "remark": "nodes",
    }


def _balance(http: httpx.Client, base: str, auth: dict[str, str], account: str) -> str:
    answer = http.get(f"{base}{API}/accounts", headers=auth)
    assert answer.status_code == 200, answer.text
    return next(a["balance"] for a in answer.json()["accounts"] if a["id"] == account)


def test_login_on_node_a_transfer_on_node_b_and_through_haproxy(cluster: Cluster) -> None:
    payer, payee, locked_out = _people(cluster.db, 3)
    a, b = (node.url for node in cluster.nodes)
    with httpx.Client(timeout=30) as http:
        auth = _login(http, a, payer, cluster.db)
        before = _balance(http, a, auth, payer.account.public_id)

        # Prepared and confirmed on B with A's session; the confirm replayed on A with its
        # key answers what B answered (the idempotency record is in the database).
        prepared = http.post(
            f"{b}{API}/transfers",
            json=_transfer_body(payer, payee, "12.34"),
            headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert prepared.status_code == 201, prepared.text
        transfer = prepared.json()
        key = uuid.uuid4().hex
        confirm = {"key_digest": transfer["key_digest"]}
        done = http.post(
            f"{b}{API}/transfers/{transfer['id']}/confirm",
            json=confirm,
            headers={**auth, "Idempotency-Key": key},
        )
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "COMPLETED"
        replay = http.post(
            f"{a}{API}/transfers/{transfer['id']}/confirm",
            json=confirm,
            headers={**auth, "Idempotency-Key": key},
        )
        assert (replay.status_code, replay.json()) == (200, done.json())

        # Through HAProxy, request after request on both nodes with the same session.
        for _ in range(2):
            prepared = http.post(
                f"{cluster.proxy}{API}/transfers",
                json=_transfer_body(payer, payee, "1.00"),
                headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
            )
            assert prepared.status_code == 201, prepared.text
            done = http.post(
                f"{cluster.proxy}{API}/transfers/{prepared.json()['id']}/confirm",
                json={"key_digest": prepared.json()["key_digest"]},
                headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
            )
            assert done.json()["status"] == "COMPLETED", done.text
        after = _balance(http, a, auth, payer.account.public_id)
        assert Decimal(before) - Decimal(after) == Decimal("14.34")

        # A logout on B ends the session on A.
        assert http.post(f"{b}{API}/auth/logout", headers=auth).status_code in (200, 204)
        assert http.get(f"{a}{API}/accounts", headers=auth).status_code == 401

        # Failed logins for one name, alternating between the nodes, meet one limit.
        wrong = {"login": locked_out.username, "password": "Not-The-Password-1"}
        answers = [
            http.post(f"{node}{API}/auth/login", json=wrong, headers=device_headers("x"))
            for node in (a, b, a, b)
        ]
        assert [r.status_code for r in answers[:3]] == [401, 401, 401], answers[2].text
        assert answers[3].status_code == 429, answers[3].text
        assert answers[3].json()["code"] == "rate_limited"


# --- load -------------------------------------------------------------------------------


@dataclass
class Load:
    """Customers transferring to each other through HAProxy until stopped; every answer
    sorted into ok, business refusal (4xx problem with a code) or failure."""

    cluster: Cluster
    people: list[Person]
    stop: threading.Event = field(default_factory=threading.Event)
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    completed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, what: str, answer: httpx.Response | Exception) -> bool:
        with self.lock:
            if isinstance(answer, Exception):
                self.failures.append(f"{what}: {type(answer).__name__}: {answer}")
                return False
            status = answer.status_code
            if status < 300:
                self.outcomes["ok"] += 1
                return True
            code = ""
            with contextlib.suppress(ValueError, KeyError, TypeError):
                code = answer.json()["code"]
            # A lost session (401), a proxy with no node (503) or a broken one (502, 504)
            # is a failure; a refusal with a business code is an answer.
            if status >= 500 or status in (401, 403, 404, 429) or not code:
                self.failures.append(f"{what}: {status} {answer.text[:200]}")
            else:
                self.outcomes[f"refused {code}"] += 1
            return False

    def client(self, index: int) -> None:
        payer = self.people[index]
        payee = self.people[(index + 1) % len(self.people)]
        base = self.cluster.proxy
        with httpx.Client(timeout=30) as http:
            try:
                auth = _login(http, base, payer, self.cluster.db)
            except (AssertionError, httpx.HTTPError) as exc:
                self.record("login", exc)
                return
            amount = 0
            while not self.stop.is_set():
                amount = amount % 99 + 1
                try:
                    prepared = http.post(
                        f"{base}{API}/transfers",
                        json=_transfer_body(payer, payee, f"0.{amount:02d}"),
                        headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
                    )
                except httpx.HTTPError as exc:
                    self.record("prepare", exc)
                    continue
                if not self.record("prepare", prepared):
                    continue
                try:
                    done = http.post(
                        f"{base}{API}/transfers/{prepared.json()['id']}/confirm",
                        json={"key_digest": prepared.json()["key_digest"]},
                        headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
                    )
                except httpx.HTTPError as exc:
                    self.record("confirm", exc)
                    continue
                if self.record("confirm", done) and done.json()["status"] == "COMPLETED":
                    with self.lock:
                        self.completed += 1
                try:
                    self.record("accounts", http.get(f"{base}{API}/accounts", headers=auth))
                except httpx.HTTPError as exc:
                    self.record("accounts", exc)
                # Steady, not flat out: on a shared 2-core machine the restarting node
                # must still get the CPU to start within the test's bound.
                self.stop.wait(PACE_SECONDS)

    @contextlib.contextmanager
    def running(self) -> Iterator[Load]:
        threads = [
            threading.Thread(target=self.client, args=(i,), daemon=True)
            for i in range(len(self.people))
        ]
        for thread in threads:
            thread.start()
        _wait(lambda: self.outcomes["ok"] >= 20, "load under way", 30)
        try:
            yield self
        finally:
            time.sleep(1.0)  # and a little after
            self.stop.set()
            for thread in threads:
                thread.join(30)

    def completed_in_database(self) -> int:
        ids = [p.account.id for p in self.people]
        return run_read(
            self.cluster.db,
            lambda s: s.scalar(
                select(func.count())
                .select_from(TransferRequest)
                .where(TransferRequest.status == "COMPLETED")
                .where(TransferRequest.from_account_id.in_(ids))
            ),
        )


def _consistent(cluster: Cluster) -> None:
    report = verify_all(cluster.db)
    assert not report.problems, report.problems


def test_rolling_restart_under_load_fails_no_request(cluster: Cluster) -> None:
    started = time.monotonic()
    load = Load(cluster, _people(cluster.db, LOAD_CLIENTS))
    figures: dict[str, float] = {}
    with load.running():
        for node in cluster.nodes:
            t0 = time.monotonic()
            assert node.proc is not None
            node.signal(signal.SIGTERM)
            _wait(lambda n=node: cluster.states()[n.name].startswith("DOWN"), "taken out", 15)
            figures[f"{node.name} out after"] = time.monotonic() - t0
            # Taken out by its /readyz while it still serves, not by its death.
            assert node.proc.poll() is None
            node.proc.wait(DRAIN_SECONDS + 20)
            # One worker re-raises the SIGTERM it handled; uvicorn's supervisor exits 0.
            assert node.proc.returncode in (-signal.SIGTERM, 0), node.log.read_text()
            assert "draining" in node.log.read_text()
            figures[f"{node.name} exited after"] = time.monotonic() - t0
            # The whole drain, though its workers got SIGTERM twice (group and supervisor).
            assert figures[f"{node.name} exited after"] >= DRAIN_SECONDS
            node.start()
            _wait(lambda: cluster.all_up(), "back in HAProxy", STARTUP_SECONDS)
            figures[f"{node.name} back after"] = time.monotonic() - t0
    figures["total"] = time.monotonic() - started
    print(f"rolling restart: {figures}, answers {dict(load.outcomes)}, {load.completed} done")
    assert load.failures == [], load.failures[:10]
    assert load.completed > 0
    assert load.completed_in_database() == load.completed
    assert figures["total"] < 90
    _consistent(cluster)


EXPAND = '''"""Throwaway expand step (tests/chaos/test_nodes.py): a nullable column."""

import sqlalchemy as sa
from alembic import op

revision = "29990101_0001"
down_revision = {heads!r}
branch_labels = ("expand_probe",)


def upgrade() -> None:
    # Expand: nullable, no default, no rewrite; wait for the table's lock at most 5 s.
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("transfer_requests", sa.Column("expand_probe", sa.String(32)))


def downgrade() -> None:
    op.drop_column("transfer_requests", "expand_probe")
'''


def test_expand_migration_under_serving_old_code_fails_no_request(
    cluster: Cluster, tmp_path: Path
) -> None:
    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    heads = tuple(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())
    (scripts / "versions" / "29990101_0001_expand_probe.py").write_text(
        EXPAND.format(heads=heads)
    )
    config = alembic_config(cluster.url)
    config.set_main_option("script_location", str(scripts))
    load = Load(cluster, _people(cluster.db, LOAD_CLIENTS))
    with load.running():
        t0 = time.monotonic()
        command.upgrade(config, "heads")
        applied = time.monotonic() - t0
        # The old code does not know the revision and stays ready (a newer release's).
        assert all(node.ready() for node in cluster.nodes)
        assert cluster.all_up()
        time.sleep(1.0)
    print(f"expand migration applied in {applied:.2f} s under load: {dict(load.outcomes)}")
    assert load.failures == [], load.failures[:10]
    assert load.completed > 0
    assert load.completed_in_database() == load.completed
    columns = run_read(
        cluster.db,
        lambda s: {c["name"] for c in inspect(s.connection()).get_columns("transfer_requests")},
    )
    assert "expand_probe" in columns
    _consistent(cluster)


def test_haproxy_config_command_renders_a_valid_configuration(tmp_path: Path) -> None:
    """`wangyin haproxy-config` (run from the checkout) prints what `haproxy -c` accepts,
    with every node checked on /readyz, and the drain the nodes need."""
    result = subprocess.run(
        [
            *(str(WANGYIN), "haproxy-config", "--listen", "127.0.0.1:18080"),
            *("--node", "app1=10.0.0.11:8000", "--node", "[::1]:8001"),
        ],
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()
    text = result.stdout.decode()
    assert "server app1 10.0.0.11:8000" in text
    assert "server node2 [::1]:8001" in text
    assert "http-check send meth GET uri /readyz" in text
    assert "--drain-seconds 5 or more" in text
    config = tmp_path / "haproxy.cfg"
    config.write_text(text)
    checked = subprocess.run([HAPROXY, "-c", "-f", str(config)], capture_output=True, timeout=30)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
