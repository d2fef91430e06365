"""The failover drill (`make drill`, `python -m wangyin.ops.drill`): RPO and RTO, measured.

1. A private cluster (ops/cluster.py): etcd and two PostgreSQL nodes under Patroni, a
   primary and a synchronous standby (`synchronous_commit = on`).
2. The schema, and customers with funded accounts, a bound phone and an API session.
3. `wangyin serve` on the cluster's multi-host URL (`target_session_attrs=read-write`).
4. Clients transfer money over HTTP (prepare, then confirm, password-free amounts). A
   request answered 503 or lost on the way is sent again with the same Idempotency-Key and
   body until it has a definite answer, as a bank's app must.
5. The primary is killed with SIGKILL (Patroni and every PostgreSQL process at once);
   Patroni promotes the synchronous standby when the leader key expires.
6. Measured: **RPO**, the transfers whose confirm the client got a 2xx for and that the new
   primary does not hold as COMPLETED (must be 0), and **RTO**, the seconds from the kill
   to the first transfer confirmed by a request sent after it. Then the customers' total is
   what it was, no account is negative, and `wangyin verify` passes.

It prints the figures, and exits 1 if RPO is not 0, a check fails, or RTO exceeds
--max-rto. The short form (`--short`) is tests/chaos/test_failover_drill.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from wangyin.ops.cluster import Cluster, ClusterError, free_port

PASSWORD = "Drill-Wangyin-2026"  # noqa: S105 - throwaway customers of a throwaway cluster
FUNDING_MINOR = 1_000_000_00  # 1,000,000.00 CNY each
# A resend waits this long after a 503 or a lost connection: short, so that the first
# success after the failover is seen within this resolution (a real app honours
# Retry-After, which says 2 s).
RESEND_PAUSE = 0.2
# What the drill's server runs with: password-free transfers (the load measures the
# database, not SMS codes), no rate limits (every client is 127.0.0.1), plain fields.
SERVER_ENV = {
    "WANGYIN_ENV": "dev",
    "WANGYIN_RATELIMIT_ENABLED": "false",
    "WANGYIN_CHANNEL_ENCRYPTION": "optional",
    "WANGYIN_PASSWORD_FREE_DAILY_MAX_MINOR": str(10**12),
    "WANGYIN_DB_POOL_SIZE": "4",
}


@dataclass
class Customer:
    username: str
    name: str
    account_id: str  # public id
    account_number: str
    token: str


@dataclass
class Ack:
    transfer_id: str
    amount_minor: int
    sent_at: float  # when the request that got the 2xx went out (monotonic)
    acked_at: float


@dataclass
class Load:
    acks: list[Ack] = field(default_factory=list)
    refusals: dict[str, int] = field(default_factory=dict)
    resends: int = 0
    unresolved: int = 0  # no definite answer before the deadline (not acknowledged)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refused(self, what: str) -> None:
        with self.lock:
            self.refusals[what] = self.refusals.get(what, 0) + 1


@dataclass
class Result:
    started_utc: str
    machine: str
    transfers_acknowledged: int
    acknowledged_after_kill: int
    resends: int
    unresolved: int
    refusals: dict[str, int]
    rpo_lost: int
    # COMPLETED in the database: more than acknowledged means a transfer booked twice or
    # booked without the client ever being told (only a request left without a definite
    # answer may explain one).
    transfers_completed: int
    rto_seconds: float | None
    promotion_seconds: float | None
    old_primary: str
    new_primary: str
    # Before the kill: the primary's synchronous_commit and its standby's sync_state.
    synchronous_commit: str
    standby_sync_state: str
    # The killed node started again: seconds until it is the new primary's synchronous
    # standby (None: not tried, or it did not come back within the timeout).
    rejoin_seconds: float | None
    total_before_minor: int
    total_after_minor: int
    negative_accounts: int
    verify_ok: bool
    verify_output: str = ""

    @property
    def ok(self) -> bool:
        return (
            self.rpo_lost == 0
            and self.transfers_acknowledged
            <= self.transfers_completed
            <= self.transfers_acknowledged + self.unresolved
            and self.synchronous_commit == "on"
            and self.standby_sync_state == "sync"
            and self.rto_seconds is not None
            and self.total_before_minor == self.total_after_minor
            and self.negative_accounts == 0
            and self.verify_ok
        )


def machine() -> str:
    cpus = os.cpu_count() or 0
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    return f"{platform.node()} ({platform.machine()}, {cpus} CPUs{memory}, {platform.platform()})"


# -- setting up ------------------------------------------------------------------------


def seed(url: str, *, customers: int) -> list[Customer]:
    """Customers with one funded CNY account each, a bound phone, and an API session
    (as if each had logged in from that phone a moment ago)."""
    from wangyin.accounts import service as accounts
    from wangyin.config import Settings
    from wangyin.db import Database
    from wangyin.fraud import service as fraud
    from wangyin.identity import devices
    from wangyin.identity import service as identity
    from wangyin.identity.models import Customer as CustomerRow
    from wangyin.identity.models import User
    from wangyin.identity.passwords import hash_password
    from wangyin.identity.validators import id_check_digit
    from wangyin.ids import new_public_id
    from wangyin.ledger import service as ledger
    from wangyin.uow import run_write

    settings = Settings(database_url=url, **_settings_env())
    now = datetime.now(UTC)
    opened = now - timedelta(days=30)
    password_hash = hash_password(PASSWORD)

    def action(s: Any) -> list[Customer]:
        cash = ledger.internal_account(s, purpose="CASH", currency="CNY", at=opened)
        out: list[Customer] = []
        for i in range(customers):
            first17 = f"11010519850101{i:03d}"
            customer = CustomerRow(
                public_id=new_public_id(),
                name=f"演练客户{i:02d}",
                id_number=first17 + id_check_digit(first17),
                mobile=f"138{i:08d}",
                created_at=opened,
            )
            s.add(customer)
            s.flush()
            account = accounts.open_account(
                s, customer_id=customer.id, kind="current", currency="CNY", at=opened
            )
            ledger.post(
                s,
                kind="deposit",
                at=opened,
                description="drill funding",
                legs=[
                    ledger.Leg(cash.id, -FUNDING_MINOR, "CNY"),
                    ledger.Leg(account.ledger_account_id, FUNDING_MINOR, "CNY"),
                ],
            )
            user = User(
                public_id=new_public_id(),
                customer_id=customer.id,
                username=f"drill{i:02d}",
                password_hash=password_hash,
                edition="professional",
                status="active",
                created_at=opened,
                password_changed_at=opened,
                upgraded_at=opened,
                transaction_pin_hash=password_hash,
                password_free_single_minor=1_000_00,
                password_free_daily_minor=10**12,
            )
            s.add(user)
            s.flush()
            device, _ = devices.bind(
                s, user_id=user.id, name=f"drill-phone-{i}", label="drill", at=opened
            )
            started = identity.start_session(
                s,
                user=user,
                client_type="api",
                ip="127.0.0.1",
                user_agent="wangyin-drill",
                at=now,
                settings=settings,
                device_id=device.public_id,
            )
            out.append(
                Customer(
                    user.username,
                    customer.name,
                    account.public_id,
                    account.account_number,
                    started.token,
                )
            )
        # The drill's clients pay each other back to back at any hour: the anti-fraud
        # engine runs on each payment, its decisions out of reach (a throwaway database).
        fraud.activate_out_of_reach(s, approved_by="drill", at=now)
        return out

    db = Database(url, pool_size=2)
    try:
        return run_write(db, action)
    finally:
        db.dispose()


def _settings_env() -> dict[str, Any]:
    return {
        "ratelimit_enabled": False,
        "channel_encryption": "optional",
        "password_free_daily_max_minor": 10**12,
    }


@contextlib.contextmanager
def served(url: str, workdir: Path, env: dict[str, str]) -> Iterator[str]:
    """`wangyin serve` on the cluster, in its own process group; its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        str(Path(sys.executable).with_name("wangyin")),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    log_path = workdir / "serve.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own CLI, arguments we build
            command,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **SERVER_ENV, **env, "WANGYIN_DATABASE_URL": url},
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise ClusterError("wangyin serve did not start:\n" + log_path.read_text())
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# -- the load ------------------------------------------------------------------------


def _send(
    http: httpx.Client,
    path: str,
    *,
    body: dict[str, Any],
    headers: dict[str, str],
    load: Load,
    deadline: float,
) -> tuple[httpx.Response | None, float]:
    """POST until the answer is definite (not 503, not lost): the same Idempotency-Key and
    body each time. Returns the answer and when the request that got it went out."""
    first = True
    while time.monotonic() < deadline:
        if not first:
            with load.lock:
                load.resends += 1
        first = False
        sent = time.monotonic()
        try:
            response = http.post(path, json=body, headers=headers)
        except httpx.TransportError:
            time.sleep(RESEND_PAUSE)
            continue
        if response.status_code == 503:
            time.sleep(RESEND_PAUSE)
            continue
        return response, sent
    return None, 0.0


def _client(
    base: str,
    payer: Customer,
    payees: list[Customer],
    load: Load,
    stop: threading.Event,
    deadline: float,
    index: int,
) -> None:
    auth = {"Authorization": f"Bearer {payer.token}"}
    with httpx.Client(base_url=base, timeout=10) as http:
        n = 0
        while not stop.is_set() and time.monotonic() < deadline:
            n += 1
            payee = payees[(index + n) % len(payees)]
            amount_minor = 1 + (index * 7919 + n * 104729) % 999  # 0.01-9.99 CNY
            body = {
                "from_account_id": payer.account_id,
                "to_account_number": payee.account_number,
                "payee_name": payee.name,
                "amount": f"{amount_minor / 100:.2f}",
                "currency": "CNY",
                "remark": "drill",
            }
            key = {**auth, "Idempotency-Key": uuid.uuid4().hex}
            prepared, _ = _send(
                http, "/api/v1/transfers", body=body, headers=key, load=load, deadline=deadline
            )
            if prepared is None:
                with load.lock:
                    load.unresolved += 1
                continue
            if prepared.status_code != 201:
                load.refused(f"prepare {prepared.status_code} {_code(prepared)}")
                continue
            transfer = prepared.json()
            key = {**auth, "Idempotency-Key": uuid.uuid4().hex}
            confirmed, sent = _send(
                http,
                f"/api/v1/transfers/{transfer['id']}/confirm",
                body={"key_digest": transfer["key_digest"]},
                headers=key,
                load=load,
                deadline=deadline,
            )
            if confirmed is None:
                with load.lock:
                    load.unresolved += 1
                continue
            status = confirmed.json().get("status") if confirmed.status_code == 200 else None
            if status != "COMPLETED":
                load.refused(f"confirm {confirmed.status_code} {_code(confirmed)}")
                continue
            with load.lock:
                load.acks.append(Ack(transfer["id"], amount_minor, sent, time.monotonic()))


def _code(response: httpx.Response) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        return str(response.json().get("code", ""))
    return ""


# -- checking --------------------------------------------------------------------------


def customer_totals(url: str) -> tuple[int, int]:
    """The sum of the customers' balances, and how many accounts are below zero that may
    not be."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT COALESCE(SUM(balance_minor), 0),"
            " COUNT(*) FILTER (WHERE balance_minor < 0 AND NOT allow_negative)"
            " FROM ledger_accounts WHERE kind = 'customer'"
        ).fetchone()
    assert row is not None  # noqa: S101 - an aggregate always answers one row
    return int(row[0]), int(row[1])


def lost_acknowledged(url: str, acks: list[Ack]) -> int:
    """Acknowledged transfers the database does not hold as COMPLETED, for the amount the
    client was told."""
    wanted = {ack.transfer_id: ack.amount_minor for ack in acks}
    if not wanted:
        return 0
    with psycopg.connect(url, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT public_id, amount_minor FROM transfer_requests"
            " WHERE public_id = ANY(%s) AND status = 'COMPLETED'"
            " AND journal_entry_id IS NOT NULL",
            (list(wanted),),
        ).fetchall()
    held = {public_id: amount for public_id, amount in rows}
    return sum(1 for tid, amount in wanted.items() if held.get(tid) != amount)


def completed_transfers(url: str) -> int:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM transfer_requests WHERE status = 'COMPLETED'"
        ).fetchone()
    return int(row[0]) if row else 0


def run_verify(url: str, workdir: Path, env: dict[str, str]) -> tuple[bool, str]:
    command = [str(Path(sys.executable).with_name("wangyin")), "verify"]
    done = subprocess.run(  # noqa: S603 - our own CLI
        command,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **SERVER_ENV, **env, "WANGYIN_DATABASE_URL": url, "COLUMNS": "100"},
    )
    return done.returncode == 0, (done.stdout + done.stderr)[-2000:]


# -- the drill -------------------------------------------------------------------------


def drill(
    *,
    clients: int = 6,
    before: float = 8.0,
    after: float = 8.0,
    timeout: float = 60.0,
    rejoin: bool = True,
    say: Any = print,
) -> Result:
    """Run the drill once; every process it starts is stopped and its directory removed."""
    from wangyin.migrate import upgrade
    from wangyin.security.keys import new_keyring, parse_keyring, use_keyring

    started_utc = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    cluster = Cluster.create()
    workdir = cluster.root / "app"
    workdir.mkdir()
    ring = new_keyring()
    key_file = workdir / "keys.json"
    key_file.write_text(ring.to_json())
    key_file.chmod(0o600)
    env = {"WANGYIN_KEY_FILE": str(key_file)}
    use_keyring(parse_keyring(ring.to_json()))
    t0 = time.monotonic()

    def tell(line: str) -> None:  # each line with the seconds since the drill began
        say(f"[{time.monotonic() - t0:5.1f} s] {line}")

    try:
        cluster.start()
        url = cluster.url()
        tell(
            f"cluster up in {time.monotonic() - t0:.1f} s: "
            + ", ".join(f"{n.name} {n.role()} :{n.pg_port}" for n in cluster.nodes)
        )
        tell(f"application URL: {url}")
        upgrade(url)
        people = seed(url, customers=clients + 2)
        total_before, _ = customer_totals(cluster.libpq_url())
        tell(f"schema migrated, {len(people)} customers funded")
        with served(url, workdir, env) as base:
            tell(f"wangyin serve answers at {base}; {clients} clients transferring")
            load = Load()
            stop = threading.Event()
            deadline = time.monotonic() + before + timeout + after
            threads = [
                threading.Thread(
                    target=_client,
                    args=(
                        base,
                        people[i],
                        [p for p in people if p is not people[i]],
                        load,
                        stop,
                        deadline,
                        i,
                    ),
                    name=f"drill-client-{i}",
                    daemon=True,
                )
                for i in range(clients)
            ]
            for thread in threads:
                thread.start()
            time.sleep(before)
            old = cluster.primary()
            if old is None:
                raise ClusterError("no primary before the kill")
            states = cluster.replication(old)
            standby = next(n.name for n in cluster.nodes if n is not old)
            tell(
                f"{old.name}: synchronous_commit={states['synchronous_commit']}, "
                f"synchronous_standby_names={states['synchronous_standby_names']}, "
                f"{standby} {states.get(standby, 'not streaming')}"
            )
            with load.lock:
                acked_before, refused = len(load.acks), dict(load.refusals)
            if refused:
                tell(f"refusals so far: {refused}")
            if not acked_before:
                raise ClusterError(
                    "no transfer went through before the kill; the server's log:\n"
                    + (workdir / "serve.log").read_text(errors="replace")[-3000:]
                )
            tell(f"{acked_before} transfers acknowledged; SIGKILL {old.name} (the primary)")
            kill_sent = time.monotonic()
            cluster.kill(old)
            # From here on nothing of the old primary runs: a transfer confirmed by a
            # request sent after this went through another node.
            killed = time.monotonic()
            new, promoted, recovered = None, None, None
            while time.monotonic() < killed + timeout:
                if new is None:
                    new = cluster.primary()
                    if new is not None:
                        promoted = time.monotonic() - kill_sent
                        tell(f"{new.name} promoted after {promoted:.1f} s")
                with load.lock:
                    after_kill = [a for a in load.acks if a.sent_at > killed]
                if after_kill and recovered is None:
                    recovered = min(a.acked_at for a in after_kill) - kill_sent
                if recovered is not None and new is not None:
                    break
                time.sleep(0.1)
            rejoined = None
            if recovered is not None:
                tell(f"transfers succeed again {recovered:.1f} s after the kill")
                if rejoin:
                    # Under load, as an operator would bring the machine back.
                    restarted = time.monotonic()
                    cluster.start_node(old)
                    with contextlib.suppress(ClusterError):
                        cluster.wait(cluster.synchronous, timeout, "no rejoin")
                        rejoined = time.monotonic() - restarted
                        tell(f"{old.name} is the synchronous standby again after {rejoined:.1f} s")
                time.sleep(after)
            stop.set()
            for thread in threads:
                thread.join(timeout=max(1.0, deadline - time.monotonic() + 5))
        acks = list(load.acks)
        lost = lost_acknowledged(cluster.libpq_url(), acks)
        completed = completed_transfers(cluster.libpq_url())
        total_after, negatives = customer_totals(cluster.libpq_url())
        verified, output = run_verify(url, workdir, env)
        tell("checked: acknowledged transfers, the customers' total, wangyin verify")
        result = Result(
            started_utc=started_utc,
            machine=machine(),
            transfers_acknowledged=len(acks),
            acknowledged_after_kill=sum(1 for a in acks if a.sent_at > killed),
            resends=load.resends,
            unresolved=load.unresolved,
            refusals=load.refusals,
            rpo_lost=lost,
            transfers_completed=completed,
            rto_seconds=None if recovered is None else round(recovered, 1),
            promotion_seconds=None if promoted is None else round(promoted, 1),
            old_primary=old.name,
            new_primary=new.name if new else "none",
            synchronous_commit=states["synchronous_commit"],
            standby_sync_state=states.get(standby, "not streaming"),
            rejoin_seconds=None if rejoined is None else round(rejoined, 1),
            total_before_minor=total_before,
            total_after_minor=total_after,
            negative_accounts=negatives,
            verify_ok=verified,
            verify_output=output,
        )
    except Exception:
        tell(cluster.log_tail())
        raise
    finally:
        use_keyring(None)
        cluster.stop()
    return result


def report(result: Result) -> str:
    rto = "never" if result.rto_seconds is None else f"{result.rto_seconds:.1f} s"
    lines = [
        f"failover drill, {result.started_utc}, on {result.machine}",
        f"  RPO: {result.rpo_lost} acknowledged transfers lost "
        f"(of {result.transfers_acknowledged}; {result.acknowledged_after_kill} after the kill)",
        f"  RTO: {rto} from SIGKILL of {result.old_primary} to the first transfer confirmed "
        f"again ({result.new_primary} promoted after {result.promotion_seconds} s)",
        f"  before the kill: synchronous_commit={result.synchronous_commit}, standby "
        f"{result.standby_sync_state}; old primary back as synchronous standby after "
        f"{'-' if result.rejoin_seconds is None else result.rejoin_seconds} s",
        f"  transfers COMPLETED in the database: {result.transfers_completed}",
        f"  resends with the same Idempotency-Key: {result.resends}; "
        f"without a definite answer: {result.unresolved}; refusals: {result.refusals or 0}",
        f"  customers' total: {result.total_before_minor / 100:.2f} before, "
        f"{result.total_after_minor / 100:.2f} after; negative balances: "
        f"{result.negative_accounts}",
        f"  wangyin verify: {'passed' if result.verify_ok else 'FAILED'}",
        f"  {'PASS' if result.ok else 'FAIL'}",
    ]
    if not result.verify_ok:
        lines.append(result.verify_output)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wangyin.ops.drill",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--clients", type=int, default=6, help="concurrent HTTP clients")
    parser.add_argument("--before", type=float, default=15.0, help="seconds of load before")
    parser.add_argument("--after", type=float, default=10.0, help="seconds of load after")
    parser.add_argument(
        "--timeout",
        type=float,
        default=90.0,
        help="give up when transfers do not succeed again within this",
    )
    parser.add_argument("--max-rto", type=float, default=30.0, help="fail above this RTO")
    parser.add_argument(
        "--no-rejoin", action="store_true", help="do not start the killed node again"
    )
    parser.add_argument("--short", action="store_true", help="the test's short form")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.short:
        args.clients, args.before, args.after = 3, 3.0, 2.0
    result = drill(
        clients=args.clients,
        before=args.before,
        after=args.after,
        timeout=args.timeout,
        rejoin=not args.no_rejoin,
    )
    print(report(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2, ensure_ascii=False))
    too_slow = result.rto_seconds is None or result.rto_seconds > args.max_rto
    not_back = not args.no_rejoin and result.rejoin_seconds is None
    return 0 if result.ok and not too_slow and not not_back else 1


if __name__ == "__main__":
    raise SystemExit(main())
