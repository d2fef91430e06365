"""Batch transfer lines/s (issue 6 §5, §9).

Run from the repository root:

    .venv/bin/python bench/batches.py [--db postgresql|sqlite|both] [--lines 1000]
                                      [--workers 1] [--chunk 50]

One payer uploads a batch of --lines lines (to 20 payees), confirms it once, and the
worker's batch job (batches.tasks.run_batches, --workers threads at once) executes every
line as one transfer. Prints the parse + validate + store time of the file, and the
executed lines/s; asserts only that every line was made exactly once. Uses its own
database (SQLite in a temporary directory, or a PostgreSQL database it drops first).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import psycopg  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from factories import make_person  # noqa: E402
from factories.bank import DEFAULT_PIN  # noqa: E402
from factories.transfers import latest_code  # noqa: E402
from wangyin.batches import service as batches  # noqa: E402
from wangyin.batches import tasks  # noqa: E402
from wangyin.clock import FrozenClock  # noqa: E402
from wangyin.config import Settings  # noqa: E402
from wangyin.db import Database  # noqa: E402
from wangyin.migrate import upgrade  # noqa: E402
from wangyin.payments.models import COMPLETED, TransferRequest  # noqa: E402
from wangyin.security.audit import Client  # noqa: E402
from wangyin.uow import run_read, run_write  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_DB = "wangyin_bench_batches"


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


def run(kind: str, *, lines: int, workers: int, chunk: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="wangyin-bench-batches-"))
    url = _database(kind, workdir)
    db = Database(url, pool_size=workers + 4)
    clock = FrozenClock(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))  # a Monday, 10:00 Shanghai
    settings = Settings(
        database_url=url,
        default_daily_transfer_limit_minor=10**15,
        no_certificate_daily_max_minor=10**15,
        large_transfer_reminder_minor=10**15,
    )
    try:
        payer = run_write(
            db, lambda s: make_person(s, at=clock.now(), name="张伟", balance_minor=10**12)
        )
        payees = [
            run_write(db, lambda s: make_person(s, at=clock.now(), balance_minor=0))
            for _ in range(20)
        ]
        rows = ["收款账号,收款人户名,金额,附言"] + [
            f"{p.account.account_number},{p.name},{1 + i % 9}.{i % 100:02d},工资"
            for i, p in ((i, payees[i % len(payees)]) for i in range(lines))
        ]
        data = "\r\n".join(rows).encode("gbk")
        started = time.perf_counter()

        def upload(s):  # type: ignore[no-untyped-def]
            return batches.create(
                s,
                customer_id=payer.customer.id,
                user_id=payer.user.id,
                actor=payer.user.public_id,
                from_account_id=payer.account.public_id,
                lines=batches.read_file(data),
                filename="bench.csv",
                at=clock.now(),
                client=Client(),
            ).public_id

        batch_id = run_write(db, upload)
        uploaded = time.perf_counter() - started

        def code(s):  # type: ignore[no-untyped-def]
            batches.send_code(
                s,
                customer_id=payer.customer.id,
                batch_id=batch_id,
                channel="sms",
                client=Client(),
                at=clock.now(),
                settings=settings,
            )
            return latest_code(s, payer.customer.mobile)

        sent = run_write(db, code)
        run_write(
            db,
            lambda s: batches.confirm(
                s,
                customer_id=payer.customer.id,
                actor=payer.user.public_id,
                batch_id=batch_id,
                key_digest=None,
                transaction_password=DEFAULT_PIN,
                code=sent,
                at=clock.now(),
                settings=settings,
                client=Client(),
            ),
        )
        started = time.perf_counter()
        threads = [
            threading.Thread(
                target=tasks.run_batches,
                args=(db, settings),
                kwargs={"at": clock.now(), "limit": lines, "chunk": chunk},
            )
            for _ in range(workers)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        made = run_read(
            db,
            lambda s: s.scalar(
                select(func.count(TransferRequest.id)).where(TransferRequest.status == COMPLETED)
            ),
        )
        assert made == lines, f"{made} transfers for {lines} lines"  # noqa: S101
        print(
            f"{kind}: {lines} lines (GBK CSV, {len(data) / 1024:.0f} KiB) parsed, validated "
            f"and stored in {uploaded:.2f} s; executed by {workers} worker(s), chunks of "
            f"{chunk}: {elapsed:.1f} s = {lines / elapsed:.1f} lines/s"
        )
    finally:
        db.dispose()
        shutil.rmtree(workdir, ignore_errors=True)
        if kind == "postgresql":
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=tasks.CHUNK)
    args = parser.parse_args()
    for kind in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        run(kind, lines=args.lines, workers=args.workers, chunk=args.chunk)


if __name__ == "__main__":
    main()
