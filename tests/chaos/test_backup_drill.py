"""The backup drill (issue 8 §2): serve, transfer, back up, transfer more, restore to a
point in time, verify; the restored bank holds exactly the transfers acknowledged before
that point, none after.

PostgreSQL: a private cluster of its own (tests/private_postgres.py) archiving its WAL
into a private pgBackRest repository in its own directory; the restore goes into a new
data directory that `wangyin restore`'s code starts on a private socket. SQLite: the
online backup API under the serving app, and a restore copied back into the live file.
The figures (backup and restore time, sizes) are printed for docs/operations.md.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from factories import DEFAULT_PASSWORD, Person, make_person
from factories.bank import DEFAULT_PIN, device_headers, track_devices
from factories.transfers import latest_code
from private_postgres import PrivatePostgres, private_postgres
from wangyin import cli
from wangyin.app import create_app
from wangyin.backup import service
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.identity.models import Customer
from wangyin.migrate import upgrade
from wangyin.payments.models import COMPLETED, TransferRequest
from wangyin.uow import run_read, run_write

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
STANZA = "drill"


class Teller:
    """The payer at the served app's JSON API: each transfer prepared, its code asked,
    confirmed; a transfer counts once the confirm is answered 200 COMPLETED."""

    def __init__(self, client: TestClient, db: Database, payer: Person, payee: Person) -> None:
        self.client, self.db, self.payer, self.payee = client, db, payer, payee
        self.mobile = run_read(db, lambda s: s.get_one(Customer, payer.customer.id).mobile)
        login = client.post(
            "/api/v1/auth/login",
            json={"login": payer.username, "password": DEFAULT_PASSWORD},
            headers=device_headers(payer.username),
        )
        assert login.status_code == 200, login.text
        assert login.json()["status"] == "authenticated", login.text
        self.headers = {
            "Authorization": f"Bearer {login.json()['token']}",
            **device_headers(payer.username),
        }
        self.sent = 0

    def transfer(self, amount: str = "1.00") -> str:
        self.sent += 1
        body = {
            "from_account_id": self.payer.account.public_id,
            "to_account_number": self.payee.account.account_number,
            "payee_name": self.payee.name,
            "amount": amount,
            "currency": "CNY",
            "remark": f"drill {self.sent}",
        }
        key = f"drill-{os.getpid()}-{self.sent}"
        prepared = self.client.post(
            "/api/v1/transfers", json=body, headers={**self.headers, "Idempotency-Key": key}
        )
        assert prepared.status_code == 201, prepared.text
        transfer = prepared.json()
        code = self.client.post(f"/api/v1/transfers/{transfer['id']}/code", headers=self.headers)
        assert code.status_code == 204, code.text
        confirmed = self.client.post(
            f"/api/v1/transfers/{transfer['id']}/confirm",
            json={
                "key_digest": transfer["key_digest"],
                "transaction_password": DEFAULT_PIN,
                "code": run_read(self.db, lambda s: latest_code(s, self.mobile)),
            },
            headers={**self.headers, "Idempotency-Key": key + "-confirm"},
        )
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["status"] == COMPLETED
        return str(transfer["id"])


def completed_ids(db: Database) -> set[str]:
    return set(
        run_read(
            db,
            lambda s: s.scalars(
                select(TransferRequest.public_id).where(TransferRequest.status == COMPLETED)
            ).all(),
        )
    )


def people(db: Database) -> tuple[Person, Person]:
    def build(s: Session) -> tuple[Person, Person]:
        return (
            make_person(s, at=T0, balance_minor=100_000_00, name="张伟"),
            make_person(s, at=T0, balance_minor=0, name="李娜"),
        )

    return run_write(db, build)


def app_settings(url: str, **backup: object) -> Settings:
    return Settings(
        database_url=url,
        channel_encryption="optional",
        # The frozen clock keeps every transfer in one minute of one day.
        otp_daily_cap=1_000,
        ratelimit_code_per_account=1_000,
        ratelimit_code_per_ip=1_000,
        **backup,  # type: ignore[arg-type]
    )


# PostgreSQL with pgBackRest


def _pgbackrest_conf(pg: PrivatePostgres) -> None:
    conf = pg.root / "pgbackrest.conf"
    conf.write_text(
        "[global]\n"
        f"repo1-path={pg.root / 'repo'}\n"
        f"log-path={pg.root / 'log'}\n"
        f"lock-path={pg.root / 'lock'}\n"
        f"spool-path={pg.root / 'spool'}\n"
        "log-level-console=warn\n"
        "log-level-file=off\n"
        "start-fast=y\n"
        "compress-type=lz4\n"
        # Encrypted at rest, as production's repository should be (the runbook's config).
        "repo1-cipher-type=aes-256-cbc\n"
        f"repo1-cipher-pass={secrets.token_urlsafe(32)}\n"
        f"[{STANZA}]\n"
        f"pg1-path={pg.data}\n"
        f"pg1-port={pg.port}\n"
        f"pg1-socket-path={pg.root}\n"
        "pg1-user=postgres\n"
    )
    with (pg.data / "postgresql.conf").open("a") as handle:
        handle.write(
            "wal_level = replica\n"
            "archive_mode = on\n"
            f"archive_command = 'pgbackrest --config={conf} --stanza={STANZA} archive-push %p'\n"
        )
    conf.chmod(0o600)
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(conf, owner.pw_uid, owner.pw_gid)


def _backup_missing() -> None:
    if shutil.which("pgbackrest") is None:
        message = "pgbackrest is not installed (make pgbackrest)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.mark.timeout(150)  # 17-25 s on a quiet machine; 55-80 s at load 15-19
def test_postgres_drill_restores_exactly_the_transfers_acknowledged_before_the_point() -> None:
    _backup_missing()
    started = time.monotonic()
    with private_postgres("wangyin-backup-pg-", before_start=_pgbackrest_conf) as pg:
        upgrade(pg.url)
        settings = app_settings(
            pg.url,
            backup_stanza=STANZA,
            backup_pgbackrest_config=str(pg.root / "pgbackrest.conf"),
            backup_retention=2,
        )
        db = Database(pg.url, pool_size=4)
        try:
            payer, payee = people(db)
            app = create_app(settings, db=db, clock=FrozenClock(T0))
            with TestClient(app, raise_server_exceptions=False) as client:
                track_devices(client)
                teller = Teller(client, db, payer, payee)
                before = [teller.transfer() for _ in range(3)]
                made = service.backup(settings=settings, at=datetime.now(UTC))
                acknowledged = [teller.transfer() for _ in range(3)]
                with psycopg.connect(pg.url) as conn:
                    row = conn.execute("SELECT clock_timestamp()").fetchone()
                    assert row is not None
                    point: datetime = row[0]
                after = [teller.transfer() for _ in range(3)]
            with psycopg.connect(pg.url) as conn:  # later still, a balance moved by hand
                conn.execute(
                    "UPDATE ledger_accounts SET balance_minor = balance_minor + 1 "
                    "WHERE id = (SELECT min(id) FROM ledger_accounts)"
                )
            # The WAL with the later commits reaches the repository (archive_timeout's job
            # in production), so recovery passes the point and stops there.
            service.pgbackrest(settings).check()
            assert completed_ids(db) == {*before, *acknowledged, *after}
        finally:
            db.dispose()

        restored = service.restore(settings=settings, target=pg.root / "restored", to_time=point)
        assert restored.good, restored.report.problems
        assert restored.backup.label == made.label
        assert restored.report.checks["completed transfers"] == 6
        assert restored.report.checks["idempotent answers"] == 12  # prepare and confirm each

        with service.restored_cluster(
            data=pg.root / "restored",
            database_url=pg.url,
            pg_bin=pg.bin,
            os_user=service.cluster_user(settings),  # postgres when run as root
        ) as copy:
            assert completed_ids(copy) == {*before, *acknowledged}
            assert not completed_ids(copy) & set(after)
        # The newest state has the hand-made change: `wangyin restore` says the restore is
        # not good and exits 1 (the live cluster is never written by a restore).
        bad = CliRunner().invoke(
            cli.app,
            ["restore", "--to", str(pg.root / "latest")],
            env={
                "WANGYIN_DATABASE_URL": pg.url,
                "WANGYIN_BACKUP_STANZA": STANZA,
                "WANGYIN_BACKUP_PGBACKREST_CONFIG": settings.backup_pgbackrest_config,
                "COLUMNS": "200",
            },
        )
        assert bad.exit_code == 1, bad.output
        assert "restore NOT good" in bad.output, bad.output
        assert "but postings sum to" in bad.output, bad.output
        print(  # the drill's figures, for docs/operations.md
            f"\nDRILL postgresql: full backup {made.seconds:.2f} s, {made.size_bytes} bytes "
            f"({made.stored_bytes} in the repository); restore to a point in time and "
            f"verify {restored.seconds:.2f} s; whole drill {time.monotonic() - started:.1f} s"
        )


# SQLite with the online backup API


@pytest.mark.timeout(60)
def test_sqlite_drill_restores_the_backup_of_the_point_into_the_live_file(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = app_settings(sqlite_url, backup_dir=str(tmp_path / "backups"))
    db = Database(sqlite_url)
    try:
        payer, payee = people(db)
        app = create_app(settings, db=db, clock=FrozenClock(T0))
        with TestClient(app, raise_server_exceptions=False) as client:
            track_devices(client)
            teller = Teller(client, db, payer, payee)
            before = [teller.transfer() for _ in range(3)]
            made = service.backup(settings=settings, at=T0 + timedelta(hours=1))
            acknowledged_after = [teller.transfer() for _ in range(3)]
            later = service.backup(settings=settings, at=T0 + timedelta(hours=3))
            teller.transfer()
            assert len(completed_ids(db)) == 7

            # To 11:30 (Shanghai): the backup of 11:00 holds the point's state.
            point = T0 + timedelta(hours=1, minutes=30)
            restored = service.restore(
                settings=settings, target=None, to_time=point, replace_live=True
            )
            assert restored.good, restored.report.problems
            assert restored.replaced_live
            assert restored.backup.label == made.label != later.label
            # The app serving the live file now shows the restored bank.
            assert completed_ids(db) == set(before)
            accounts = client.get("/api/v1/accounts", headers=teller.headers)
            assert accounts.status_code == 200, accounts.text
            (mine,) = [
                a
                for a in accounts.json()["accounts"]
                if a["account_number"] == payer.account.account_number
            ]
            assert mine["balance"] == "99997.00"
            assert not completed_ids(db) & set(acknowledged_after)
    finally:
        db.dispose()
    print(
        f"\nDRILL sqlite: backup {made.seconds:.3f} s, {made.size_bytes} bytes; restore, "
        f"verify and copy into the live file {restored.seconds:.2f} s"
    )
