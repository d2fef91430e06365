"""Backups of SQLite with the online backup API, their retention, the worker's daily
schedule, and restores that verify before they are declared good (issue 8 §2)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import Person, make_person
from factories.transfers import pay
from wangyin.backup import service, tasks
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.idempotency.models import IdempotencyRecord
from wangyin.payments.models import COMPLETED, TransferRequest
from wangyin.uow import run_read, run_write

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def completed(db: Database) -> int:
    return int(
        run_read(
            db,
            lambda s: s.scalar(
                select(func.count(TransferRequest.id)).where(TransferRequest.status == COMPLETED)
            ),
        )
        or 0
    )


@pytest.fixture
def backup_settings(sqlite_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=sqlite_url,
        backup_dir=str(tmp_path / "backups"),
        backup_retention=3,
        channel_encryption="optional",
        otp_daily_cap=10_000,  # the frozen clock keeps every transfer in one day
    )


@pytest.fixture
def pair(sqlite_db: Database, clock: FrozenClock) -> tuple[Person, Person]:
    def build(s: Session) -> tuple[Person, Person]:
        return (
            make_person(s, at=clock.now(), balance_minor=1_000_000_00, name="张伟"),
            make_person(s, at=clock.now(), balance_minor=0, name="李娜"),
        )

    return run_write(sqlite_db, build)


def test_sqlite_copies_taken_while_transfers_are_written_are_each_consistent(
    sqlite_db: Database, pair: tuple[Person, Person], clock: FrozenClock, backup_settings: Settings
) -> None:
    payer, payee = pair
    writes = 40
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(writes):
                pay(sqlite_db, payer, payee, "1.00", at=clock.now(), settings=backup_settings)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    copies = []
    moment = T0
    while thread.is_alive() or not copies:
        moment += timedelta(seconds=1)  # distinct names: one copy each
        copies.append(service.backup(settings=backup_settings, at=moment))
        backup_settings.backup_retention = len(copies) + 1  # keep them all to check
    thread.join(timeout=60)
    assert not failures, failures
    directory = Path(backup_settings.backup_dir)
    by_count: dict[int, Path] = {}
    for copy in copies:
        path = directory / copy.label
        # A self-contained file: no WAL left beside it to complete it.
        assert not path.with_name(path.name + "-wal").exists()
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
            (count,) = conn.execute(
                "SELECT count(*) FROM transfer_requests WHERE status = ?", (COMPLETED,)
            ).fetchone()
        by_count.setdefault(count, path)
    seen = set(by_count)
    for path in list(by_count.values())[:8]:  # every check of verify, on one copy per moment
        db = Database(f"sqlite:///{path}")
        try:
            report = service.verify_restored(db)
            assert report.ok, (path.name, report.problems)
        finally:
            db.dispose()
    # The copies were taken at different moments of the writing, each one whole.
    assert len(seen) >= 2, seen
    assert completed(sqlite_db) == writes


def test_retention_keeps_the_newest_copies(sqlite_db: Database, backup_settings: Settings) -> None:
    made = [service.backup(settings=backup_settings, at=T0 + timedelta(hours=n)) for n in range(5)]
    kept = service.backups(settings=backup_settings)
    assert [b.label for b in kept] == [b.label for b in made[-3:]]
    assert sorted(p.name for p in Path(backup_settings.backup_dir).glob("*.db")) == [
        b.label for b in made[-3:]
    ]
    # The bank's data: the directory and the copies are the owner's only.
    directory = Path(backup_settings.backup_dir)
    assert directory.stat().st_mode & 0o777 == 0o700
    assert {(directory / b.label).stat().st_mode & 0o777 for b in kept} == {0o600}


def test_restore_picks_the_newest_backup_at_or_before_the_time() -> None:
    found = [
        service.Backup(str(n), T0 + timedelta(hours=n), 1, 1) for n in range(3)
    ]  # 10:00, 11:00, 12:00 in Shanghai
    assert service.choose(found, to_time=None).label == "2"
    assert service.choose(found, to_time=T0 + timedelta(minutes=90)).label == "1"
    assert service.choose(found, to_time=T0 + timedelta(hours=1)).label == "1"
    with pytest.raises(service.BackupError, match="no backup finished before"):
        service.choose(found, to_time=T0 - timedelta(seconds=1))


def test_the_worker_backs_up_once_a_day_after_the_scheduled_time(
    sqlite_db: Database, backup_settings: Settings
) -> None:
    backup_settings.backup_daily_at = "02:30"
    clock = FrozenClock(datetime(2026, 3, 1, 18, 0, tzinfo=UTC))  # 02:00 in Shanghai
    workers = [tasks.DailyBackup(backup_settings, db=sqlite_db, clock=clock) for _ in range(2)]

    def tick_all() -> int:
        threads = [t for w in workers if (t := w.tick()) is not None]
        for thread in threads:
            thread.join(timeout=30)
        return len(threads)

    assert tick_all() == 0  # before 02:30
    assert service.backups(settings=backup_settings) == []
    clock.advance(minutes=31)  # 02:31
    tick_all()
    tick_all()  # a worker that found the other one backing up asks again
    assert len(service.backups(settings=backup_settings)) == 1  # two workers, one backup
    assert tick_all() == 0  # done for today
    clock.advance(hours=12)
    assert tick_all() == 0
    clock.advance(hours=12)  # the next day at 02:31
    tick_all()
    tick_all()
    found = service.backups(settings=backup_settings)
    assert [b.stopped_at for b in found] == [
        datetime(2026, 3, 1, 18, 31, tzinfo=UTC),
        datetime(2026, 3, 2, 18, 31, tzinfo=UTC),
    ]


def test_the_daily_backup_counts_one_made_by_hand_after_the_scheduled_time(
    sqlite_db: Database, backup_settings: Settings
) -> None:
    backup_settings.backup_daily_at = "02:30"
    at = datetime(2026, 3, 1, 18, 45, tzinfo=UTC)  # 02:45 in Shanghai
    service.backup(settings=backup_settings, at=at)
    clock = FrozenClock(at + timedelta(minutes=5))
    daily = tasks.DailyBackup(backup_settings, db=sqlite_db, clock=clock)
    thread = daily.tick()
    assert thread is not None
    thread.join(timeout=30)
    assert len(service.backups(settings=backup_settings)) == 1
    assert daily.tick() is None


def test_no_schedule_no_backup(sqlite_db: Database, backup_settings: Settings) -> None:
    assert backup_settings.backup_daily_at == ""
    daily = tasks.DailyBackup(backup_settings, db=sqlite_db, clock=FrozenClock(T0))
    assert daily.tick() is None


def test_an_answer_without_its_transfer_fails_the_restore_check(
    sqlite_db: Database, pair: tuple[Person, Person], clock: FrozenClock, backup_settings: Settings
) -> None:
    payer, payee = pair
    done = pay(sqlite_db, payer, payee, "2.00", at=clock.now(), settings=backup_settings)
    report = service.verify_restored(sqlite_db)
    assert report.ok, report.problems
    assert report.checks["idempotent answers"] == 2  # prepare and confirm

    def forget(s: Session) -> None:
        # The transfer rolled back under the stored answer: a restore that mixed moments.
        row = s.scalars(
            select(TransferRequest).where(TransferRequest.public_id == done["id"])
        ).one()
        row.status = "CHALLENGE_PENDING"
        row.journal_entry_id = None

    run_write(sqlite_db, forget)
    problems = service.verify_restored(sqlite_db).problems
    assert any(f"transfer {done['id']} was answered completed" in p for p in problems), problems
    assert run_read(sqlite_db, lambda s: s.scalar(select(func.count(IdempotencyRecord.id)))) == 2


# The commands, as an operator runs them.


def _wangyin(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wangyin.cli", *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_backup_and_restore_commands_refuse_a_damaged_backup_and_keep_the_live_database(
    sqlite_db: Database,
    pair: tuple[Person, Person],
    clock: FrozenClock,
    backup_settings: Settings,
    sqlite_url: str,
    tmp_path: Path,
) -> None:
    payer, payee = pair
    pay(sqlite_db, payer, payee, "3.00", at=clock.now(), settings=backup_settings)
    env = {
        "WANGYIN_DATABASE_URL": sqlite_url,
        "WANGYIN_BACKUP_DIR": backup_settings.backup_dir,
        "WANGYIN_KEY_FILE": str(Path.cwd() / "var" / "keys.json"),
        "COLUMNS": "200",
    }
    made = _wangyin(tmp_path, env, "backup")
    assert made.returncode == 0, made.stdout + made.stderr
    assert "backup wangyin-" in made.stdout
    listed = _wangyin(tmp_path, env, "backup", "--list")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    (only,) = service.backups(settings=backup_settings)
    assert f"{only.label}  full  consistent to {only.stopped_at.isoformat()}" in listed.stdout

    good = _wangyin(tmp_path, env, "restore", "--to", str(tmp_path / "restored.db"))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "restore verified" in good.stdout

    # The only backup is damaged: a balance changed behind the ledger.
    (copy,) = Path(backup_settings.backup_dir).glob("wangyin-*.db")
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE ledger_accounts SET balance_minor = balance_minor + 100")
    live_before = Path(sqlite_url.split("///", 1)[1]).read_bytes()
    bad = _wangyin(tmp_path, env, "restore", "--replace-live")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "restore NOT good" in bad.stdout and "live database is untouched" in bad.stdout
    assert Path(sqlite_url.split("///", 1)[1]).read_bytes() == live_before
    assert completed(sqlite_db) == 1
    assert not list(Path(sqlite_url.split("///", 1)[1]).parent.glob(".*restore*"))


def test_one_worker_at_a_time_takes_the_backup(db: Database, tmp_path: Path) -> None:
    sqlite = db.engine.dialect.name == "sqlite"
    settings = Settings(
        database_url=str(db.engine.url) if sqlite else "postgresql://unused/unused",
        backup_dir=str(tmp_path / "backups"),
    )
    with tasks.exclusive(settings, db) as first:
        assert first
        with tasks.exclusive(settings, db) as second:
            assert not second  # another worker (its own connection or file handle) waits
    with tasks.exclusive(settings, db) as again:
        assert again  # released when the backup is done


def test_the_worker_loop_takes_the_daily_backup(
    sqlite_db: Database, backup_settings: Settings
) -> None:
    from wangyin.jobs import worker

    backup_settings.backup_daily_at = "02:30"
    clock = FrozenClock(datetime(2026, 3, 1, 18, 31, tzinfo=UTC))  # 02:31 in Shanghai
    stop = threading.Event()
    loop = threading.Thread(
        target=worker.run,
        args=(backup_settings,),
        kwargs={"db": sqlite_db, "clock": clock, "stop": stop, "interval": 0.05},
    )
    loop.start()
    try:
        deadline = time.monotonic() + 30
        while not service.backups(settings=backup_settings):
            assert time.monotonic() < deadline, "the worker took no backup"
            stop.wait(0.05)
    finally:
        stop.set()
        loop.join(timeout=30)
    (made,) = service.backups(settings=backup_settings)
    assert made.stopped_at == clock.now()


@pytest.mark.parametrize("value", ["2:30", "24:00", "02:60", "0230", "daily"])
def test_the_daily_time_is_a_time_of_day(value: str) -> None:
    with pytest.raises(ValueError, match="backup_daily_at"):
        Settings(backup_daily_at=value)
    assert Settings(backup_daily_at="23:59").backup_daily_at == "23:59"
