"""Backups and restore (issue 8 §2; 4.1.2.3-d, 4.1.4-a).

PostgreSQL is backed up by pgBackRest (Debian's package): full backups plus the WAL archive
it keeps through `archive_command`, so any moment after the oldest kept backup can be
restored. SQLite is copied with its online backup API (`sqlite3.Connection.backup`), one
read transaction per copy: consistent while the app writes.

A restore never touches the live database: it writes a new SQLite file or a new PostgreSQL
data directory, opens it (PostgreSQL: a private instance on a Unix socket only, archiving
off, until recovery has reached the target), runs every check of `wangyin verify` on it and
declares it good only when they all pass. Putting it in service is the operator's step
(docs/operations.md), except for SQLite's `--replace-live`, which copies a verified restore
into the live file.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy import URL, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from wangyin.config import Settings
from wangyin.db import Database, normalize_url
from wangyin.idempotency.models import IdempotencyRecord
from wangyin.ledger.service import VerifyReport
from wangyin.payments.models import COMPLETED, TransferRequest
from wangyin.uow import run_read
from wangyin.verify import verify_all

SQLITE_PREFIX = "wangyin-"
_SQLITE_NAME = re.compile(r"^wangyin-(\d{8}T\d{6}\d{6})Z\.db$")
_STAMP = "%Y%m%dT%H%M%S%f"


class BackupError(Exception):
    """A backup or restore that could not be done; the message is for the operator."""


@dataclass(frozen=True)
class Backup:
    label: str  # SQLite: the file name; PostgreSQL: pgBackRest's backup label
    stopped_at: datetime  # the copy holds every transaction committed before this (UTC)
    size_bytes: int  # of the database copied (pgBackRest: before compression)
    stored_bytes: int  # what it takes in the backup directory or repository
    kind: str = "full"
    seconds: float | None = None  # how long it took, when just made


@dataclass
class Restored:
    location: Path
    backup: Backup
    target_time: datetime | None
    report: VerifyReport
    seconds: float = 0.0
    replaced_live: bool = False

    @property
    def good(self) -> bool:
        return self.report.ok


# The commands


def backup(*, settings: Settings, at: datetime, kind: str = "full") -> Backup:
    """One backup of the configured database, old ones beyond the retention dropped."""
    if settings.is_sqlite:
        if kind != "full":
            raise BackupError("SQLite backups are always full copies")
        return backup_sqlite(
            source=sqlite_path(settings.database_url),
            directory=Path(settings.backup_dir),
            at=at,
            retention=settings.backup_retention,
        )
    return pgbackrest(settings).backup(kind=kind)


def backups(*, settings: Settings) -> list[Backup]:
    """Every backup there is, oldest first."""
    if settings.is_sqlite:
        return sqlite_backups(Path(settings.backup_dir))
    return pgbackrest(settings).backups()


def choose(found: Sequence[Backup], *, to_time: datetime | None) -> Backup:
    """The newest backup finished at or before `to_time` (the newest of all without one)."""
    usable = [b for b in found if to_time is None or b.stopped_at <= to_time]
    if not usable:
        when = f" finished before {to_time.isoformat()}" if to_time else ""
        raise BackupError(f"no backup{when} to restore from")
    return usable[-1]


def restore(
    *,
    settings: Settings,
    target: Path | None,
    to_time: datetime | None = None,
    replace_live: bool = False,
) -> Restored:
    """Restore into `target` (a new SQLite file or an empty PostgreSQL data directory) as
    of `to_time` (default: the newest state there is), then verify it. SQLite with
    `replace_live` copies a good restore into the live database."""
    started = time.monotonic()
    if settings.is_sqlite:
        restored = _restore_sqlite(
            settings=settings, target=target, to_time=to_time, replace_live=replace_live
        )
    else:
        if replace_live:
            raise BackupError(
                "PostgreSQL is restored into a new data directory (--to); put it in service "
                "as docs/operations.md says"
            )
        if target is None:
            raise BackupError("name the new data directory to restore into (--to)")
        restored = _restore_postgres(settings=settings, target=target, to_time=to_time)
    restored.seconds = time.monotonic() - started
    return restored


def verify_restored(db: Database) -> VerifyReport:
    """`wangyin verify` of a restored database, against no outside checkpoint (a restore to
    an earlier moment is behind the live one's by design) and writing none; plus the
    promise of idempotency: every stored answer of a confirmed transfer has its transfer."""
    with tempfile.TemporaryDirectory(prefix="wangyin-restore-verify-") as scratch:
        report = verify_all(db, checkpoint=Path(scratch) / "checkpoint.json")
    report.merge(run_read(db, _answers_have_their_transfers))
    return report


# The fields by which a stored answer is a transfer's (payments.service TransferView).
_TRANSFER_ANSWER = frozenset({"id", "status", "key_digest", "from_account_id", "to_account_number"})


def _answers_have_their_transfers(session: Session) -> VerifyReport:
    report = VerifyReport()
    statuses = {
        str(public_id): str(status)
        for public_id, status in session.execute(
            select(TransferRequest.public_id, TransferRequest.status)
        )
    }
    answered = 0
    for body, status in session.execute(
        select(IdempotencyRecord.response_body, IdempotencyRecord.response_status)
    ):
        if status >= 300:
            continue
        try:
            stored = json.loads(body)
        except ValueError:
            report.problems.append("an idempotency record holds no JSON answer")
            continue
        if not isinstance(stored, dict) or not stored.keys() >= _TRANSFER_ANSWER:
            continue  # another kind of answer (a refusal, another domain's)
        transfer_id = str(stored["id"])
        answered += 1
        if transfer_id not in statuses:
            report.problems.append(f"a stored answer names transfer {transfer_id}, not here")
        elif stored["status"] == COMPLETED and statuses[transfer_id] != COMPLETED:
            report.problems.append(
                f"transfer {transfer_id} was answered completed but is {statuses[transfer_id]}"
            )
    report.checks["idempotent answers"] = answered
    return report


# SQLite


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return Path(database)


def backup_sqlite(*, source: Path, directory: Path, at: datetime, retention: int) -> Backup:
    """Copy `source` into `directory` as wangyin-<UTC time>.db with the online backup API,
    check the copy, keep the newest `retention` copies."""
    if not source.exists():
        raise BackupError(f"no SQLite database at {source}")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = f"{SQLITE_PREFIX}{at.astimezone(UTC).strftime(_STAMP)}Z.db"
    final = directory / name
    partial = directory / f".{name}.partial"
    started = time.monotonic()
    partial.unlink(missing_ok=True)  # left by a copy that was killed
    try:
        _copy_sqlite(source, partial)
        partial.replace(final)
    finally:
        partial.unlink(missing_ok=True)
    seconds = time.monotonic() - started
    for old in sqlite_backups(directory)[:-retention]:
        (directory / old.label).unlink(missing_ok=True)
    size = final.stat().st_size
    return Backup(name, at.astimezone(UTC), size, size, "full", seconds)


def _copy_sqlite(source: Path, target: Path) -> None:
    """One backup step over the whole file: a single read transaction, so the copy is one
    consistent moment while writers go on (WAL); then a self-contained file (no -wal),
    readable by its owner only (it holds the bank's data)."""
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    with (
        contextlib.closing(sqlite3.connect(source, timeout=30)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
        checked = dst.execute("PRAGMA integrity_check").fetchone()
        if checked is None or checked[0] != "ok":
            raise BackupError(f"the copy of {source} fails its integrity check")
    with open(target, "rb") as handle:  # durable before it is renamed into place
        os.fsync(handle.fileno())


def sqlite_backups(directory: Path) -> list[Backup]:
    found = []
    for path in sorted(directory.glob(f"{SQLITE_PREFIX}*.db")):
        match = _SQLITE_NAME.match(path.name)
        if match:
            stopped = datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC)
            size = path.stat().st_size
            found.append(Backup(path.name, stopped, size, size))
    return found


def _restore_sqlite(
    *, settings: Settings, target: Path | None, to_time: datetime | None, replace_live: bool
) -> Restored:
    directory = Path(settings.backup_dir)
    chosen = choose(sqlite_backups(directory), to_time=to_time)
    live = sqlite_path(settings.database_url)
    if target is None:
        if not replace_live:
            raise BackupError("name the new file to restore into (--to), or --replace-live")
        target = live.with_name(f".{live.name}.restore-{os.getpid()}")
    if target.exists() or target.resolve() == live.resolve():
        raise BackupError(f"{target} exists: a restore writes a new file")
    target.parent.mkdir(parents=True, exist_ok=True)
    _copy_sqlite(directory / chosen.label, target)
    db = Database(f"sqlite:///{target}")
    try:
        report = verify_restored(db)
    finally:
        db.dispose()
    restored = Restored(target, chosen, to_time, report)
    if replace_live:
        try:
            if restored.good:
                # The backup API writes the whole file under SQLite's own locks, WAL included.
                with (
                    contextlib.closing(sqlite3.connect(target)) as src,
                    contextlib.closing(sqlite3.connect(live, timeout=30)) as dst,
                ):
                    src.backup(dst)
                restored.replaced_live = True
                restored.location = live
        finally:
            for leftover in (target, target.with_name(target.name + "-journal")):
                leftover.unlink(missing_ok=True)
    return restored


# PostgreSQL: pgBackRest


def _as_user(os_user: str, command: Sequence[str]) -> list[str]:
    """Root runs pgBackRest and PostgreSQL as the cluster's OS user (PostgreSQL refuses
    root, and the repository belongs to that user)."""
    if os_user and os.geteuid() == 0 and pwd.getpwuid(0).pw_name != os_user:
        return ["runuser", "-u", os_user, "--", *command]
    return list(command)


def cluster_user(settings: Settings) -> str:
    """Whom pgBackRest and PostgreSQL run as: the setting, or postgres when run as root
    (never root: PostgreSQL refuses it, and the repository is the cluster user's)."""
    if settings.backup_os_user:
        return settings.backup_os_user
    return "postgres" if os.geteuid() == 0 else ""


def _owner(os_user: str) -> tuple[int, int] | None:
    if os_user and os.geteuid() == 0:
        entry = pwd.getpwnam(os_user)
        return entry.pw_uid, entry.pw_gid
    return None


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


@dataclass(frozen=True)
class PgBackRest:
    stanza: str
    config: str = ""
    os_user: str = ""
    retention: int = 7

    def command(self, *args: str) -> list[str]:
        base = [shutil.which("pgbackrest") or "pgbackrest", f"--stanza={self.stanza}"]
        if self.config:
            base.append(f"--config={self.config}")
        return _as_user(self.os_user, [*base, *args])

    def run(self, *args: str, timeout: float = 6 * 3600) -> str:
        try:
            done = subprocess.run(  # noqa: S603 - our own fixed arguments, no shell
                self.command(*args), capture_output=True, text=True, timeout=timeout, check=False
            )
        except FileNotFoundError:
            raise BackupError(
                "pgbackrest is not installed (apt-get install pgbackrest, or `make pgbackrest`)"
            ) from None
        if done.returncode != 0:
            raise BackupError(
                f"pgbackrest {args[-1]} failed ({done.returncode}): "
                f"{_tail(done.stderr or done.stdout)}"
            )
        return done.stdout

    def ensure_stanza(self) -> None:
        """The stanza once (pgBackRest answers OK when it exists and matches)."""
        self.run("stanza-create", timeout=600)

    def check(self) -> None:
        """Archiving works: switches the WAL segment and waits for it in the repository."""
        self.run("check", timeout=600)

    def backup(self, *, kind: str = "full") -> Backup:
        if kind not in ("full", "diff", "incr"):
            raise BackupError(f"unknown backup type {kind!r}: full, diff or incr")
        self.ensure_stanza()
        started = time.monotonic()
        self.run(f"--type={kind}", f"--repo1-retention-full={self.retention}", "backup")
        seconds = time.monotonic() - started
        made = self.backups()[-1]
        return Backup(
            made.label, made.stopped_at, made.size_bytes, made.stored_bytes, made.kind, seconds
        )

    def backups(self) -> list[Backup]:
        stanzas = json.loads(self.run("--output=json", "info", timeout=600) or "[]")
        found = []
        for stanza in stanzas:
            for item in stanza.get("backup", []):
                found.append(
                    Backup(
                        label=item["label"],
                        stopped_at=datetime.fromtimestamp(item["timestamp"]["stop"], UTC),
                        size_bytes=int(item["info"]["size"]),
                        stored_bytes=int(item["info"]["repository"]["delta"]),
                        kind=item["type"],
                    )
                )
        return sorted(found, key=lambda b: b.stopped_at)

    def restore(self, *, target: Path, label: str, to_time: datetime | None) -> None:
        args = [f"--pg1-path={target}", f"--set={label}"]
        if to_time is not None:
            moment = to_time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
            args += ["--type=time", f"--target={moment}", "--target-action=promote"]
        self.run(*args, "restore")


def pgbackrest(settings: Settings) -> PgBackRest:
    return PgBackRest(
        stanza=settings.backup_stanza,
        config=settings.backup_pgbackrest_config,
        os_user=cluster_user(settings),
        retention=settings.backup_retention,
    )


def pg_bin(settings: Settings) -> Path:
    if settings.backup_pg_bin:
        return Path(settings.backup_pg_bin)
    for directory in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(directory, "pg_ctl").exists():
            return Path(directory)
    raise BackupError("no PostgreSQL server binaries (set WANGYIN_BACKUP_PG_BIN)")


def _restore_postgres(*, settings: Settings, target: Path, to_time: datetime | None) -> Restored:
    tool = pgbackrest(settings)
    found = tool.backups()
    # pgBackRest keeps stop times in whole seconds: a backup stopped within the target's
    # second counts as before it (it was acknowledged before the moment was taken).
    floor = to_time.replace(microsecond=0) if to_time else None
    chosen = choose(found, to_time=floor)
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} is not empty: a restore writes a new data directory")
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    owner = _owner(cluster_user(settings))
    if owner:
        os.chown(target, *owner)
    tool.restore(target=target, label=chosen.label, to_time=to_time)
    with restored_cluster(
        data=target,
        database_url=settings.database_url,
        pg_bin=pg_bin(settings),
        os_user=cluster_user(settings),
    ) as db:
        report = verify_restored(db)
    return Restored(target, chosen, to_time, report)


@contextlib.contextmanager
def restored_cluster(
    *,
    data: Path,
    database_url: str,
    pg_bin: Path,
    os_user: str,
    recovery_seconds: float = 3600,
) -> Iterator[Database]:
    """Start the restored data directory as a private instance (a Unix socket in a private
    directory, no TCP, archiving off so it never writes into the live repository), wait
    until recovery has reached its target and promoted, hand out a Database on it, stop."""
    run_dir = Path(tempfile.mkdtemp(prefix="wangyin-restore-"))
    owner = _owner(os_user)
    if owner:
        os.chown(run_dir, *owner)
    (run_dir / "pg_hba.conf").write_text("local all all trust\n")
    (run_dir / "pg_ident.conf").write_text("")
    conf = data / "postgresql.conf"
    if not conf.exists():  # Debian keeps it in /etc/postgresql, outside the backup
        conf.write_text("")
        if owner:
            os.chown(conf, *owner)
    port = 5432
    options = (
        f"-p {port} -c listen_addresses='' -c unix_socket_directories={run_dir} "
        f"-c archive_mode=off -c hba_file={run_dir / 'pg_hba.conf'} "
        f"-c ident_file={run_dir / 'pg_ident.conf'}"
    )
    pg_ctl = str(pg_bin / "pg_ctl")
    log = run_dir / "postgres.log"
    url = make_url(normalize_url(database_url))
    local = URL.create(
        "postgresql+psycopg",
        username=url.username or "postgres",
        database=url.database or "postgres",
        query={"host": str(run_dir), "port": str(port)},
    )
    start = [pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", "600", "-o", options, "start"]
    started = subprocess.run(  # noqa: S603 - our own fixed arguments
        _as_user(os_user, start),
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        if started.returncode != 0:
            raise BackupError(f"the restored cluster did not start: {_tail(_read(log))}")
        _wait_for_promotion(local, log, recovery_seconds)
        db = Database(local.render_as_string(hide_password=False), pool_size=2)
        try:
            yield db
        finally:
            db.dispose()
    finally:
        subprocess.run(  # noqa: S603 - our own fixed arguments
            _as_user(os_user, [pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(run_dir, ignore_errors=True)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _wait_for_promotion(url: URL, log: Path, seconds: float) -> None:
    dsn = f"dbname={url.database} user={url.username} host={url.query['host']} port=5432"
    deadline = time.monotonic() + seconds
    while True:
        try:
            with psycopg.connect(dsn, connect_timeout=5) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                if row is not None and not row[0]:
                    return
        except psycopg.OperationalError:
            if "FATAL" in _read(log) and "shut down" in _read(log):
                raise BackupError(f"recovery failed: {_tail(_read(log))}") from None
        if time.monotonic() > deadline:
            raise BackupError(f"recovery did not finish in {seconds:.0f} s")
        time.sleep(0.2)
