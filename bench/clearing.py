"""Inter-bank sends/s through the clearing sub-accounts (issue 6 §1, §9).

Run from the repository root:

    .venv/bin/python bench/clearing.py [--db postgresql|sqlite] [--clients 8]
                                       [--seconds 10] [--shards 16]

Phase 1 (confirm): --clients threads, each its own payer, prepare + confirm inter-bank
transfers in-process (password-free amounts, so the money path is measured, not Argon2):
every confirm debits the payer into a CLEARING sub-account chosen by the transfer's id.
Run with --shards 1 to see the same load on one clearing row.
Phase 2 (send): the worker's clearing job sends what phase 1 debited through the CNAPS
simulator and settles it (sent + settled: two more ledger entries each), items/s.
Before phase 1, one payer alone prepares and confirms --sample transfers: statements and
round trips per prepare and per confirm (wangyin.db.QueryStats; on PostgreSQL a round trip
is one wait for the server), and the worker's send of one item. These per-operation costs
are stable on a busy machine; the sends/s are not.
Bounded by --seconds per phase; prints figures, asserts nothing; uses its own database.

Measured on PostgreSQL (2 shared cores, load ~6), statements / round trips per operation,
before and after the inter-bank path was written in explicit SQL (issue 10 §4's rules):
    prepare   7 / 8    ->  6 / 3
    confirm  11 / 10   ->  6 / 3
    send     13.1 / 14.2 -> 5.1 / 4.1  (ours per item; the simulator's 5 / 7 apart)
and over HTTP (tests/integration/test_interbank_statement_budget.py) prepare+confirm
25 / 23 -> 13 / 6. Sends/s on that machine: confirm 59 -> 95/s, send 28 -> 40/s (4 clients).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import psycopg  # noqa: E402
from sqlalchemy import update  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from factories import make_person  # noqa: E402
from wangyin.clearing import directory  # noqa: E402
from wangyin.clearing import service as clearing  # noqa: E402
from wangyin.clearing.settings import ClearingSettings  # noqa: E402
from wangyin.clearing.tasks import ClearingJob  # noqa: E402
from wangyin.clock import FrozenClock  # noqa: E402
from wangyin.config import Settings  # noqa: E402
from wangyin.db import Database  # noqa: E402
from wangyin.errors import DomainError  # noqa: E402
from wangyin.identity.models import User  # noqa: E402
from wangyin.ledger import service as ledger  # noqa: E402
from wangyin.migrate import upgrade  # noqa: E402
from wangyin.security.audit import Client  # noqa: E402
from wangyin.uow import run_write  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_DB = "wangyin_bench_clearing"


def _database(kind: str, workdir: Path) -> str:
    if kind == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
    else:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{BENCH_DB}"')
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{BENCH_DB}"
    upgrade(url)
    return url


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--sample", type=int, default=20)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="wangyin-bench-clearing-"))
    url = _database(args.db, workdir)
    db = Database(url, pool_size=args.clients + 4)
    clock = FrozenClock(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))  # a Monday, 10:00 Shanghai
    settings = Settings(
        database_url=url,
        bank_account_shards=args.shards,
        password_free_daily_max_minor=10**15,
        default_daily_transfer_limit_minor=10**15,
        no_certificate_daily_max_minor=10**15,
        large_transfer_reminder_minor=10**15,
    )
    cfg = ClearingSettings(statement_dir=str(workdir / "statements"))
    run_write(db, directory.seed_directory)

    def open_bank_accounts(s: Session) -> None:
        # Every sub-account the transfers use, opened before anything is measured (a
        # first use opens one: not the per-operation cost).
        for purpose in ("CLEARING", "INTERBANK", "PBOC"):
            for shard in range(args.shards if purpose != "PBOC" else 1):
                ledger.bank_account(s, purpose=purpose, currency="CNY", at=clock.now(), shard=shard)

    run_write(db, open_bank_accounts)
    payers = [
        run_write(db, lambda s: make_person(s, at=clock.now(), balance_minor=10**12))
        for _ in range(args.clients)
    ]
    run_write(
        db,
        lambda s: s.execute(
            update(User).values(
                password_free_single_minor=1_000_00,
                password_free_daily_minor=10**15,
                daily_limit_minor=10**15,
            )
        ),
    )
    done = [0] * args.clients
    refused: list[str] = []

    def prepare(payer: Any) -> str:
        def once(s: Session) -> str:
            t = clearing.prepare(
                s,
                customer_id=payer.customer.id,
                user_id=payer.user.id,
                user_public_id=payer.user.public_id,
                from_account_id=payer.account.public_id,
                bank_code="308584000013",
                payee_account="6225880000000018",
                payee_name="赵敏",
                amount="1.00",
                speed="realtime",
                remark="",
                at=clock.now(),
                settings=settings,
                clearing=cfg,
                client=Client(),
            )
            return t.public_id

        return run_write(db, once)

    def confirm(payer: Any, tid: str) -> None:
        run_write(
            db,
            lambda s: clearing.confirm(
                s,
                customer_id=payer.customer.id,
                transfer_id=tid,
                key_digest=None,
                transaction_password=None,
                code=None,
                acknowledged=True,
                at=clock.now(),
                settings=settings,
                clearing=cfg,
                client=Client(),
            ),
        )

    # Per-operation costs, one payer alone (the first transfer opens its sub-accounts).
    confirm(payers[0], prepare(payers[0]))
    costs = {"prepare": [0, 0], "confirm": [0, 0]}
    for _ in range(args.sample):
        before = db.stats.snapshot()
        tid = prepare(payers[0])
        middle = db.stats.snapshot()
        confirm(payers[0], tid)
        after = db.stats.snapshot()
        for name, (a, b) in (("prepare", (before, middle)), ("confirm", (middle, after))):
            costs[name][0] += b[0] - a[0]
            costs[name][1] += b[1] - a[1]
    for name, (statements, round_trips) in costs.items():
        print(
            f"{name}: {statements / args.sample:.1f} statements, "
            f"{round_trips / args.sample:.1f} round trips per {name} ({args.db})"
        )
    # The worker's cost per item: the sample's items, claimed, sent and answered.
    # The simulator (the network's side, in the same database) is counted apart.
    job = ClearingJob(db, clock, settings=cfg)
    network = [0, 0]
    gateway_send = job.gateway.send

    def counted_send(item: Any) -> Any:
        start = db.stats.snapshot()
        try:
            return gateway_send(item)
        finally:
            end = db.stats.snapshot()
            network[0] += end[0] - start[0]
            network[1] += end[1] - start[1]

    job.gateway.send = counted_send  # type: ignore[method-assign]
    before = db.stats.snapshot()
    sent = job.send_due(clock.now())
    after = db.stats.snapshot()
    job.gateway.send = gateway_send  # type: ignore[method-assign]
    ours = (after[0] - before[0] - network[0], after[1] - before[1] - network[1])
    print(
        f"send: {ours[0] / sent:.1f} statements, {ours[1] / sent:.1f} round trips per item "
        f"(the claim shared by {sent} items, and each answer recorded), besides the "
        f"simulator's {network[0] / sent:.1f} and {network[1] / sent:.1f}"
    )
    stop = time.monotonic() + args.seconds

    def client(index: int) -> None:
        payer = payers[index]
        while time.monotonic() < stop:
            try:
                confirm(payer, prepare(payer))
                done[index] += 1
            except DomainError as exc:
                refused.append(exc.code)

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    total = sum(done)
    print(
        f"confirm: {total} inter-bank transfers in {elapsed:.1f} s = {total / elapsed:.1f}/s "
        f"({args.clients} clients, {args.db}, {args.shards} clearing sub-accounts, "
        f"{len(refused)} refused {sorted(set(refused))})"
    )
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < args.seconds:
        moved = job.send_due(clock.now())
        if not moved:
            break
        sent += moved
    elapsed = time.monotonic() - started
    print(f"send: {sent} items sent and settled in {elapsed:.1f} s = {sent / elapsed:.1f}/s")
    db.dispose()
    if args.db == "postgresql":
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


if __name__ == "__main__":
    main()
