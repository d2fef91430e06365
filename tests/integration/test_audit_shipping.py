"""Issue 8 §5 (ASVS5-16.4.2/16.4.3, 4.1.4-d/e) and 4.1.6-c: the audit records are shipped
to a copy the application's role can only INSERT into and SELECT from; `wangyin verify`
compares the two; retention cuts the chains from their start without breaking them.

The copy is a second PostgreSQL database made by the same function operators run
(`python -m wangyin.observability.audit_copy setup`); the application database is each of
SQLite and PostgreSQL (`db`)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from conftest import PG_ADMIN_URL, _pg_unavailable, _pg_url_for
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.jobs import worker
from wangyin.observability import audit_copy
from wangyin.observability.audit_copy import CopyStore, ship
from wangyin.observability.models import AuditPruned, AuditShipCursor
from wangyin.observability.tasks import enforce_retention
from wangyin.security import audit
from wangyin.security.models import AuditRecord
from wangyin.uow import run_read, run_write
from wangyin.verify import verify_all

_SUFFIX = f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
NAMES = {
    "database": f"wangyin_audit_{_SUFFIX}",
    "writer": f"wy_audit_writer_{_SUFFIX}",
    "owner": f"wy_audit_owner_{_SUFFIX}",
}


@pytest.fixture(scope="session")
def copy_url() -> Iterator[str]:
    """The copy's database and roles, made once per test worker by the operators' setup."""
    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        _pg_unavailable(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
    url = audit_copy.setup(PG_ADMIN_URL, **NAMES)
    audit_copy.setup(PG_ADMIN_URL, **NAMES)  # idempotent: operators may run it again
    try:
        yield url
    finally:
        audit_copy.teardown(PG_ADMIN_URL, **NAMES)


def _owner_url() -> str:
    """The copy's database as the PostgreSQL superuser (stands in for its owner)."""
    return _pg_url_for(NAMES["database"])


@pytest.fixture
def copy(copy_url: str) -> Iterator[CopyStore]:
    with psycopg.connect(_owner_url(), autocommit=True) as owner:
        owner.execute("TRUNCATE audit_copy")
    store = CopyStore(copy_url)
    yield store
    store.dispose()


def _append(db: Database, at: FrozenClock | object, customer_id: int | None, n: int) -> None:
    now = at.now() if isinstance(at, FrozenClock) else at

    def action(s: Session) -> None:
        for i in range(n):
            audit.append(
                s,
                event="login",
                outcome="success",
                actor="u-public-id",
                at=now,  # type: ignore[arg-type]
                customer_id=customer_id,
                details={"n": i},
            )

    run_write(db, action)


def _problems(db: Database, url: str) -> list[str]:
    return verify_all(db, audit_copy_url=url).problems


def _copy_rows(sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(_owner_url()) as owner:
        return owner.execute(sql).fetchall()


def test_shipped_records_match_the_copy_and_verify_is_clean(
    db: Database, clock: FrozenClock, copy: CopyStore, copy_url: str
) -> None:
    _append(db, clock, 1, 3)
    _append(db, clock, None, 2)
    assert ship(db, copy, at=clock.now()) == 5
    assert ship(db, copy, at=clock.now()) == 0  # nothing new: nothing sent
    _append(db, clock, 1, 1)
    assert ship(db, copy, at=clock.now()) == 1
    report = verify_all(db, audit_copy_url=copy_url)
    assert report.problems == []
    assert report.checks["audit copy records"] == 6
    assert report.checks["audit records not yet shipped"] == 0
    assert _copy_rows("SELECT chain, seq FROM audit_copy ORDER BY chain, seq") == [
        (0, 1),
        (0, 2),
        (1, 1),
        (1, 2),
        (1, 3),
        (1, 4),
    ]


def test_a_record_altered_in_the_app_database_is_reported(
    db: Database, clock: FrozenClock, copy: CopyStore, copy_url: str
) -> None:
    _append(db, clock, 1, 3)
    ship(db, copy, at=clock.now())
    run_write(
        db,
        lambda s: s.execute(
            update(AuditRecord)
            .where(AuditRecord.chain == 1, AuditRecord.seq == 2)
            .values(outcome="failure")
        ),
    )
    problems = _problems(db, copy_url)
    assert "audit chain 1: record 2 differs from the audit copy in outcome (altered)" in problems


def test_a_record_deleted_from_the_app_database_is_reported(
    db: Database, clock: FrozenClock, copy: CopyStore, copy_url: str
) -> None:
    """The newest record deleted and the head moved back: the chain alone still verifies;
    the copy says what is gone."""
    _append(db, clock, 1, 3)
    ship(db, copy, at=clock.now())

    def truncate(s: Session) -> None:
        last = s.scalars(select(AuditRecord).where(AuditRecord.chain == 1, AuditRecord.seq == 2))
        previous = last.one()
        s.execute(delete(AuditRecord).where(AuditRecord.chain == 1, AuditRecord.seq == 3))
        s.execute(
            text("UPDATE audit_head SET seq = 2, hash = :h WHERE id = 2"), {"h": previous.hash}
        )

    run_write(db, truncate)
    assert run_read(db, audit.verify_chain) == []  # what only the copy can catch
    problems = _problems(db, copy_url)
    assert problems == [
        "audit chain 1: record 3 is in the audit copy but gone from the database (deleted)"
    ]


def test_a_gap_in_the_copy_is_reported(
    db: Database, clock: FrozenClock, copy: CopyStore, copy_url: str
) -> None:
    _append(db, clock, 2, 3)
    ship(db, copy, at=clock.now())
    with psycopg.connect(_owner_url()) as owner:
        owner.execute("DELETE FROM audit_copy WHERE chain = 2 AND seq = 2")
    problems = _problems(db, copy_url)
    assert problems == ["audit chain 2: record 2 is missing from the audit copy (a gap)"]


def test_a_record_altered_in_the_copy_fails_its_keyed_hash(
    db: Database, clock: FrozenClock, copy: CopyStore, copy_url: str
) -> None:
    _append(db, clock, 3, 2)
    ship(db, copy, at=clock.now())
    with psycopg.connect(_owner_url()) as owner:
        owner.execute("ALTER TABLE audit_copy DISABLE TRIGGER audit_copy_no_update")
        owner.execute("UPDATE audit_copy SET actor = 'someone-else' WHERE chain = 3 AND seq = 1")
        owner.execute("ALTER TABLE audit_copy ENABLE TRIGGER audit_copy_no_update")
    problems = _problems(db, copy_url)
    assert (
        "audit chain 3: record 1 of the audit copy fails its keyed hash (altered in the copy)"
        in problems
    )
    assert "audit chain 3: record 1 differs from the audit copy in actor (altered)" in problems


def test_records_not_yet_shipped_are_no_problem(
    db: Database, clock: FrozenClock, copy: CopyStore, copy_url: str
) -> None:
    _append(db, clock, 1, 2)
    report = verify_all(db, audit_copy_url=copy_url)
    assert report.problems == []
    assert report.checks["audit records not yet shipped"] == 2


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_copy SET outcome = 'failure'",
        "DELETE FROM audit_copy",
        "TRUNCATE audit_copy",
        "DROP TABLE audit_copy",
        "ALTER TABLE audit_copy DISABLE TRIGGER audit_copy_no_update",
        "CREATE TABLE audit_copy_2 (x int)",
    ],
)
def test_the_app_role_cannot_modify_the_copy(
    pg_db: Database, clock: FrozenClock, copy: CopyStore, copy_url: str, statement: str
) -> None:
    _append(pg_db, clock, 1, 2)
    ship(pg_db, copy, at=clock.now())
    with (
        psycopg.connect(copy_url) as app_role,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        app_role.execute(statement)
    assert _copy_rows("SELECT count(*) FROM audit_copy") == [(2,)]


def test_nobody_updates_the_copy_not_even_its_owner(copy: CopyStore) -> None:
    with psycopg.connect(_owner_url()) as owner:
        owner.execute(
            "INSERT INTO audit_copy (chain, seq, at, event, outcome, actor, ip, device_id, "
            "client, details, prev_hash, hash) VALUES (0, 1, now(), 'e', 'o', 'a', '', '', '', "
            "'{}', '', '')"
        )
        with pytest.raises(psycopg.errors.RaiseException, match="never updated"):
            owner.execute("UPDATE audit_copy SET outcome = 'x'")


def test_a_resend_after_a_lost_cursor_is_harmless(
    db: Database, clock: FrozenClock, copy: CopyStore, copy_url: str
) -> None:
    """At least once: the copy took the records, the cursor's move was lost (a crash):
    the next run sends them again and the copy keeps one of each."""
    _append(db, clock, 1, 3)
    ship(db, copy, at=clock.now())
    run_write(db, lambda s: s.execute(update(AuditShipCursor).values(seq=0)))
    assert ship(db, copy, at=clock.now()) == 3
    assert _copy_rows("SELECT count(*) FROM audit_copy") == [(3,)]
    assert _problems(db, copy_url) == []


def test_the_worker_ships_the_audit_copy(
    db: Database, clock: FrozenClock, copy: CopyStore, copy_url: str, settings: Settings
) -> None:
    _append(db, clock, 4, 2)
    stop = threading.Event()
    configured = settings.model_copy(update={"audit_copy_url": copy_url})
    thread = threading.Thread(
        target=worker.run,
        args=(configured,),
        kwargs={"db": db, "clock": clock, "stop": stop, "interval": 0.05},
    )
    thread.start()
    try:
        for _ in range(200):  # at most 10 s
            if _copy_rows("SELECT count(*) FROM audit_copy") == [(2,)]:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert _copy_rows("SELECT count(*) FROM audit_copy") == [(2,)]


# --- retention (4.1.6-c) ---------------------------------------------------------------------


def _retention(settings: Settings, copy_url: str = "") -> Settings:
    return settings.model_copy(
        update={
            "audit_retention_days": 365,
            "audit_copy_retention_days": 3650,
            "audit_copy_url": copy_url,
        }
    )


def test_retention_cuts_old_records_and_the_chain_still_verifies(
    db: Database, clock: FrozenClock, copy: CopyStore, copy_url: str, settings: Settings
) -> None:
    old = clock.now() - timedelta(days=400)
    _append(db, old, 1, 3)  # past retention
    _append(db, clock, 1, 2)  # kept
    _append(db, old, 2, 1)  # past retention, but the last of its chain: kept
    ship(db, copy, at=clock.now())
    counts = enforce_retention(db, _retention(settings, copy_url), at=clock.now())
    assert counts["audit records"] == 3
    kept = run_read(
        db,
        lambda s: s.execute(
            select(AuditRecord.chain, AuditRecord.seq).order_by(AuditRecord.chain, AuditRecord.seq)
        ).all(),
    )
    assert [tuple(r) for r in kept] == [(1, 4), (1, 5), (2, 1)]
    report = verify_all(db, audit_copy_url=copy_url)
    assert report.problems == []  # the chain from its marker; the copy still holds 1..3
    assert report.checks["audit copy records"] == 6
    # Run again: nothing more is old enough.
    assert enforce_retention(db, _retention(settings, copy_url), at=clock.now()) == {
        "login sessions": 0,
        "audit records": 0,
    }


def test_retention_never_cuts_what_the_copy_has_not_got(
    db: Database, clock: FrozenClock, copy: CopyStore, copy_url: str, settings: Settings
) -> None:
    old = clock.now() - timedelta(days=400)
    _append(db, old, 1, 3)
    _append(db, clock, 1, 1)
    counts = enforce_retention(db, _retention(settings, copy_url), at=clock.now())
    assert counts["audit records"] == 0  # nothing shipped yet
    ship(db, copy, at=clock.now())
    assert (
        enforce_retention(db, _retention(settings, copy_url), at=clock.now())["audit records"] == 3
    )


def test_records_deleted_behind_a_forged_marker_fail_verify(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    """Deleting old records and writing a retention marker by hand (without the audit
    key) does not pass for retention."""
    _append(db, clock, 1, 4)

    def forge(s: Session) -> None:
        second = s.scalars(
            select(AuditRecord).where(AuditRecord.chain == 1, AuditRecord.seq == 2)
        ).one()
        s.execute(delete(AuditRecord).where(AuditRecord.chain == 1, AuditRecord.seq <= 2))
        s.add(
            AuditPruned(
                chain=1,
                seq=2,
                hash=second.hash,
                pruned_at=clock.now(),
                mac_key="a1",
                mac="0" * 64,
            )
        )

    run_write(db, forge)
    problems = run_read(db, audit.verify_chain)
    assert problems[0] == (
        "audit chain 1: its retention marker is not genuine (records deleted and a marker "
        "written without the audit key)"
    )
    assert any("missing" in p or "does not follow" in p for p in problems[1:])


def test_retention_without_a_copy_and_the_marker_is_needed(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    """Without the marker the cut chain would not verify: the marker is what keeps it whole
    (this test fails if prune_audit stops writing it)."""
    old = clock.now() - timedelta(days=400)
    _append(db, old, 5, 2)
    _append(db, clock, 5, 1)
    assert enforce_retention(db, _retention(settings), at=clock.now())["audit records"] == 2
    assert run_read(db, audit.verify_chain) == []
    assert run_read(db, lambda s: s.scalar(select(func.count()).select_from(AuditPruned))) == 1
    run_write(db, lambda s: s.execute(delete(AuditPruned)))
    assert run_read(db, audit.verify_chain) != []


def test_the_copy_is_pruned_by_its_own_retention(
    db: Database, clock: FrozenClock, copy: CopyStore, copy_url: str
) -> None:
    old = clock.now() - timedelta(days=4000)
    _append(db, old, 1, 2)
    _append(db, clock, 1, 1)
    ship(db, copy, at=clock.now())
    assert audit_copy.prune(_owner_url(), days=3650, at=clock.now()) == 2
    assert _copy_rows("SELECT seq FROM audit_copy") == [(3,)]


def test_wangyin_verify_compares_the_copy_named_in_the_environment(
    db: Database,
    clock: FrozenClock,
    copy: CopyStore,
    copy_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The command operators run: WANGYIN_AUDIT_COPY_URL set, exit 0 while the two agree,
    1 with the difference named once a record is edited in the application database."""
    from typer.testing import CliRunner

    from wangyin.cli import app

    _append(db, clock, 6, 2)
    ship(db, copy, at=clock.now())
    monkeypatch.setenv("WANGYIN_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("WANGYIN_AUDIT_COPY_URL", copy_url)
    result = CliRunner().invoke(app, ["verify"])
    assert result.exit_code == 0, result.output
    assert "audit copy records" in result.output
    run_write(
        db,
        lambda s: s.execute(
            update(AuditRecord).where(AuditRecord.chain == 6).values(ip="203.0.113.1")
        ),
    )
    result = CliRunner().invoke(app, ["verify"])
    assert result.exit_code == 1
    assert "differs from the audit copy in ip (altered)" in result.output
