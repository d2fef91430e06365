"""Failures in the middle of a transaction leave nothing half-done."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import Person, balance, customer_total, make_person
from factories.transfers import confirm, prepare, second_factor
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.idempotency.models import IdempotencyRecord
from wangyin.ledger import service as ledger
from wangyin.ledger.models import JournalEntry, Posting
from wangyin.payments import service as payments
from wangyin.payments.models import PENDING, TransferRequest
from wangyin.uow import run_read, run_write
from wangyin.verify import verify_all


class PowerCut(Exception):
    """Stands in for a crash between two statements of one transaction."""


def pair(db: Database, clock: FrozenClock) -> tuple[Person, Person]:
    return run_write(
        db,
        lambda s: (
            make_person(s, at=clock.now(), balance_minor=1_000_00),
            make_person(s, at=clock.now(), balance_minor=0),
        ),
    )


def snapshot(s: Session) -> tuple[int, int, int, int]:
    return (
        s.scalar(select(func.count(JournalEntry.id))) or 0,
        s.scalar(select(func.count(Posting.id))) or 0,
        s.scalar(select(func.count(IdempotencyRecord.id))) or 0,
        customer_total(s),
    )


def test_crash_after_ledger_post_rolls_everything_back(db: Database, clock: FrozenClock) -> None:
    a, b = pair(db, clock)
    before = run_read(db, snapshot)

    def action(s: Session) -> None:
        ledger.post(
            s,
            kind="transfer",
            at=clock.now(),
            legs=[
                ledger.Leg(a.account.ledger_account_id, -400_00, "CNY"),
                ledger.Leg(b.account.ledger_account_id, 400_00, "CNY"),
            ],
        )
        raise PowerCut

    with pytest.raises(PowerCut):
        run_write(db, action)
    assert run_read(db, snapshot) == before
    assert run_read(db, lambda s: (balance(s, a.account), balance(s, b.account))) == (1_000_00, 0)
    assert verify_all(db).ok


def test_crash_inside_confirm_leaves_the_transfer_pending_and_retryable(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    a, b = pair(db, clock)
    _, prepared, _ = prepare(
        db,
        a,
        to=b.account.account_number,
        payee_name=b.name,
        amount="250",
        at=clock.now(),
        settings=settings,
    )
    before = run_read(db, snapshot)

    def crashing_confirm(s: Session) -> None:
        pin, code = second_factor(s, a, prepared["id"], at=clock.now(), settings=settings)
        payments.confirm(
            s,
            customer_id=a.customer.id,
            transfer_id=prepared["id"],
            key_digest=None,
            transaction_password=pin,
            code=code,
            at=clock.now(),
            settings=settings,
        )
        raise PowerCut  # after the posting and the status change, before commit

    with pytest.raises(PowerCut):
        run_write(db, crashing_confirm)
    assert run_read(db, snapshot) == before
    status = run_read(
        db,
        lambda s: s.scalar(
            select(TransferRequest.status).where(TransferRequest.public_id == prepared["id"])
        ),
    )
    assert status == PENDING
    # The customer simply tries again and it goes through, once.
    _, done, _ = confirm(db, a, prepared["id"], at=clock.now(), settings=settings)
    assert done["status"] == "COMPLETED"
    assert run_read(db, lambda s: (balance(s, a.account), balance(s, b.account))) == (
        750_00,
        250_00,
    )
    assert verify_all(db).ok


def test_sqlite_database_is_locked_is_retried(
    sqlite_url: str, clock: FrozenClock, settings: Settings
) -> None:
    """Two Database objects (two processes, in effect) on one file: a writer that finds the
    file locked waits and retries instead of failing."""
    first = Database(sqlite_url)
    second = Database(sqlite_url)
    try:
        a, b = pair(first, clock)
        # Make the second engine give up on the lock at once, so only run_write's retry helps.
        from sqlalchemy import event

        @event.listens_for(second.engine, "connect")
        def _impatient(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_connection.execute("PRAGMA busy_timeout=0")

        second.engine.dispose()
        blocker = first.write_sessions()
        blocker.execute(select(func.count(JournalEntry.id)))  # BEGIN IMMEDIATE: holds the lock
        attempts: list[int] = []
        released = threading.Event()

        def move(s: Session) -> str:
            attempts.append(1)
            if len(attempts) == 2 and not released.is_set():
                blocker.commit()  # the other writer finishes while we back off
                blocker.close()
                released.set()
            return ledger.post(
                s,
                kind="transfer",
                at=clock.now(),
                legs=[
                    ledger.Leg(a.account.ledger_account_id, -1_00, "CNY"),
                    ledger.Leg(b.account.ledger_account_id, 1_00, "CNY"),
                ],
            ).public_id

        entry = run_write(second, move)
        assert entry
        assert len(attempts) >= 2, "the first attempt should have met the lock"
        assert run_read(first, lambda s: balance(s, b.account)) == 1_00
        assert verify_all(first).ok
    finally:
        first.dispose()
        second.dispose()
