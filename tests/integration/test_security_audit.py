"""Tamper evidence of the audit chain on both databases (4.1.4-d/e, ASVS5-16.4.2):
`verify_all` is clean on an untouched trail and names the damage after an edit, a
deletion, a reordering, or an edit whose own hash was recomputed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from factories import DEFAULT_PASSWORD, make_person
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.identity import service as identity
from wangyin.security import audit
from wangyin.security.audit import Client
from wangyin.security.models import AuditRecord
from wangyin.uow import run_read, run_write
from wangyin.verify import verify_all

CLIENT = Client(ip="203.0.113.7", device_id="dev-1", client_type="api", os_version="Android 14")


@pytest.fixture
def trail(db: Database, clock: FrozenClock, settings: Settings) -> int:
    """Six real records: logins (one failed), a lock-free failure, a password change."""
    person = run_write(db, lambda s: make_person(s, at=clock.now()))
    for password in (DEFAULT_PASSWORD, "Wrong-Pass-1", DEFAULT_PASSWORD):
        clock.advance(seconds=10)
        # The wrong password's failure is recorded by the login transaction itself.
        with contextlib.suppress(DomainError):
            run_write(
                db,
                lambda s, p=password: identity.login(
                    s,
                    login=person.username,
                    password=p,
                    client=Client(device_id=f"device-{person.username}", ip="198.51.100.1"),
                    at=clock.now(),
                    settings=settings,
                ),
            )
    for i in range(3):
        clock.advance(seconds=10)
        run_write(
            db,
            lambda s, i=i: audit.append(
                s,
                event="limits_changed",
                outcome="success",
                actor=person.user.public_id,
                at=clock.now(),
                client=CLIENT,
                customer_id=person.customer.id,
                details={"single_minor": 100 * (i + 1)},
            ),
        )
    count = run_read(db, lambda s: len(s.scalars(select(AuditRecord.id)).all()))
    assert count == 6
    assert verify_all(db).problems == []
    return count


def tamper(db: Database, action: Callable[[Session], object]) -> list[str]:
    run_write(db, action)
    return verify_all(db).problems


def test_audit_edit_of_one_record_is_detected(db: Database, trail: int) -> None:
    """4.1.4-d/e: UPDATE audit_records SET details=... on one record: `verify` says which."""
    problems = tamper(
        db,
        lambda s: s.execute(
            text("UPDATE audit_records SET details = :d WHERE seq = 3"),
            {"d": '{"single_minor":999999}'},
        ),
    )
    assert any(p.startswith("audit record 3 was altered") for p in problems)


def test_audit_edit_with_recomputed_hash_is_detected(db: Database, trail: int) -> None:
    """4.1.4-d/e: an editor who also recomputes the record's own hash breaks the link to the
    next record."""

    def forge(s: Session) -> None:
        record = s.scalars(select(AuditRecord).where(AuditRecord.seq == 4)).one()
        record.ip = "192.0.2.99"
        record.hash = audit.record_hash(record)

    problems = tamper(db, forge)
    assert not any(p.startswith("audit record 4 was altered") for p in problems)
    assert any(p.startswith("audit record 5 does not follow its predecessor") for p in problems)


def test_audit_deletion_of_one_record_is_detected(db: Database, trail: int) -> None:
    """4.1.4-d/e: DELETE of a record in the middle shows as a gap."""
    problems = tamper(db, lambda s: s.execute(text("DELETE FROM audit_records WHERE seq = 2")))
    assert any("audit record 2 is missing" in p for p in problems)
    assert any(p.startswith("audit record 3 does not follow its predecessor") for p in problems)


def test_audit_deletion_of_the_last_record_is_detected(db: Database, trail: int) -> None:
    """4.1.4-d/e: even removing the newest record (no gap left behind) is caught by the head."""
    problems = tamper(
        db, lambda s: s.execute(text("DELETE FROM audit_records WHERE seq = :n"), {"n": trail})
    )
    assert any("head does not match" in p for p in problems)


def test_audit_swapping_two_records_is_detected(db: Database, trail: int) -> None:
    """4.1.4-d/e: swapping the seq of two records (reordering) is detected."""

    def swap(s: Session) -> None:
        s.execute(text("UPDATE audit_records SET seq = -1 WHERE seq = 2"))
        s.execute(text("UPDATE audit_records SET seq = 2 WHERE seq = 3"))
        s.execute(text("UPDATE audit_records SET seq = 3 WHERE seq = -1"))

    problems = tamper(db, swap)
    assert problems
    assert any(p.startswith("audit record 2") for p in problems)
    assert any(p.startswith("audit record 3") for p in problems)


def test_audit_cli_verify_exits_nonzero_on_tampering(
    db: Database, trail: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4.1.4-d/e: `wangyin verify` exits 0 on an intact trail and 1 after an edit."""
    from typer.testing import CliRunner

    from wangyin.cli import app

    monkeypatch.setenv("WANGYIN_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    assert CliRunner().invoke(app, ["verify"]).exit_code == 0
    run_write(db, lambda s: s.execute(text("UPDATE audit_records SET actor = 'x' WHERE seq = 1")))
    result = CliRunner().invoke(app, ["verify"])
    assert result.exit_code == 1
    assert "audit record 1 was altered" in result.output
