"""Concurrency proof: many threads moving money at once lose nothing and apply each key once.

Transfers go through the service layer exactly like the API: prepare and confirm in
separate `run_write` transactions, each under `idempotency.once`, so keys are stored and
replays answer from the stored first response.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from factories import Person, customer_total, make_account, make_person
from factories.fraud import rules_out_of_reach
from factories.transfers import confirm, confirm_action, prepare
from wangyin.accounts.models import Account
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.idempotency.models import IdempotencyRecord
from wangyin.ledger.models import JournalEntry, LedgerAccount
from wangyin.payments.models import COMPLETED, TransferRequest
from wangyin.uow import run_read, run_write
from wangyin.verify import verify_all

THREADS = 16
PER_THREAD = 32
CUSTOMERS = 10
ACCOUNTS_PER_CUSTOMER = 2
OPENING = 1_000_00
REPLAY_RATE = 0.10


@dataclass
class Outcome:
    completed: set[str] = field(default_factory=set)
    prepared: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    replays: int = 0
    errors: list[str] = field(default_factory=list)


def bank(db: Database, clock: FrozenClock) -> list[tuple[Person, Account]]:
    def build(s: Session) -> list[tuple[Person, Account]]:
        slots: list[tuple[Person, Account]] = []
        for _ in range(CUSTOMERS):
            person = make_person(s, at=clock.now(), balance_minor=OPENING)
            # Small password-free payments: this proof is about locking, not second factors.
            person.user.password_free_single_minor = 1_000_00
            person.user.password_free_daily_minor = 10**12
            slots.append((person, person.account))
            for _ in range(ACCOUNTS_PER_CUSTOMER - 1):
                slots.append(
                    (
                        person,
                        make_account(s, person.customer, at=clock.now(), balance_minor=OPENING),
                    )
                )
        # This proof is about locking, not fraud rules: a few customers paying each other
        # hundreds of times is velocity and mule activity the engine would step up.
        rules_out_of_reach(s, at=clock.now())
        return slots

    return run_write(db, build)


def same_replay(
    result: tuple[int, dict[str, Any], bool], first: tuple[int, dict[str, Any], bool]
) -> bool:
    return result[2] is True and result[0] == first[0] and result[1] == first[1]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_concurrent_random_transfers_keep_the_books(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    settings = settings.model_copy(update={"password_free_daily_max_minor": 10**12})
    slots = bank(db, clock)
    total_before = run_read(db, customer_total)
    assert total_before == OPENING * CUSTOMERS * ACCOUNTS_PER_CUSTOMER
    outcome = Outcome()
    lock = threading.Lock()
    start = threading.Barrier(THREADS)
    at = clock.now()

    def worker(index: int) -> None:
        rng = random.Random(1000 + index)
        start.wait()
        for n in range(PER_THREAD):
            payer, source = rng.choice(slots)
            payee, target = rng.choice([slot for slot in slots if slot[1].id != source.id])
            amount = f"{rng.randint(1, 700_00) / 100:.2f}"
            pkey, ckey = f"t{index}-{n}-prepare", f"t{index}-{n}-confirm"
            try:
                prepared = prepare(
                    db,
                    payer,
                    to=target.account_number,
                    payee_name=payee.name,
                    amount=amount,
                    at=at,
                    settings=settings,
                    key=pkey,
                    from_account_id=source.public_id,
                )
                with lock:
                    outcome.prepared += 1
                confirmed = confirm(
                    db, payer, prepared[1]["id"], at=at, settings=settings, key=ckey
                )
                with lock:
                    outcome.completed.add(confirmed[1]["id"])
                if rng.random() < REPLAY_RATE:
                    again_p = prepare(
                        db,
                        payer,
                        to=target.account_number,
                        payee_name=payee.name,
                        amount=amount,
                        at=at,
                        settings=settings,
                        key=pkey,
                        from_account_id=source.public_id,
                    )
                    again_c = confirm(
                        db, payer, prepared[1]["id"], at=at, settings=settings, key=ckey
                    )
                    with lock:
                        outcome.replays += 1
                        if not (same_replay(again_p, prepared) and same_replay(again_c, confirmed)):
                            outcome.errors.append(f"replay of {ckey} differed")
            except DomainError as exc:
                with lock:
                    outcome.refusals[exc.code] += 1
            except Exception as exc:
                with lock:
                    outcome.errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not outcome.errors, outcome.errors[:5]
    # One lock order everywhere (transfer -> user -> ledger accounts ascending -> audit
    # head): no deadlock is ever retried away silently.
    assert db.stats.deadlocks == 0, f"{db.stats.deadlocks} deadlocks ({db.stats.retries} retries)"
    assert set(outcome.refusals) <= {"insufficient_funds"}, outcome.refusals
    assert outcome.prepared + outcome.refusals["insufficient_funds"] >= THREADS * PER_THREAD
    assert outcome.completed, "no transfer went through"
    assert outcome.replays > 0

    def books(s: Session) -> dict[str, int]:
        entries = select(func.count(JournalEntry.id)).where(JournalEntry.kind == "transfer")
        return {
            "total": customer_total(s),
            "negative": s.scalar(
                select(func.count(LedgerAccount.id)).where(
                    LedgerAccount.kind == "customer",
                    LedgerAccount.balance_minor - LedgerAccount.held_minor < 0,
                )
            )
            or 0,
            "entries": s.scalar(entries) or 0,
            "keys": s.scalar(
                select(func.count(func.distinct(JournalEntry.idempotency_key))).where(
                    JournalEntry.kind == "transfer"
                )
            )
            or 0,
            "completed": s.scalar(
                select(func.count(TransferRequest.id)).where(TransferRequest.status == COMPLETED)
            )
            or 0,
            "records": s.scalar(select(func.count(IdempotencyRecord.id))) or 0,
        }

    after = run_read(db, books)
    assert after["total"] == total_before
    assert after["negative"] == 0
    assert after["entries"] == after["keys"] == after["completed"] == len(outcome.completed)
    # One stored response per successful prepare and per successful confirm; replays add none.
    # Every executed request's first answer is stored, refusals included (rule 4).
    refused = sum(outcome.refusals.values())
    assert after["records"] == outcome.prepared + len(outcome.completed) + refused
    report = verify_all(db)
    assert report.ok, report.problems


@pytest.mark.slow
def test_two_threads_confirming_one_transfer_post_it_once(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    def build(s: Session) -> tuple[Person, Person]:
        return (
            make_person(s, at=clock.now(), balance_minor=1_000_00),
            make_person(s, at=clock.now(), balance_minor=0),
        )

    a, b = run_write(db, build)
    rounds = 5
    for r in range(rounds):
        _, prepared, _ = prepare(
            db,
            a,
            to=b.account.account_number,
            payee_name=b.name,
            amount="10",
            at=clock.now(),
            settings=settings,
        )
        barrier = threading.Barrier(2)
        results: list[object] = []

        def go(
            n: int,
            tid: str = prepared["id"],
            r: int = r,
            barrier: threading.Barrier = barrier,
            results: list[object] = results,
        ) -> None:
            barrier.wait()
            try:
                results.append(
                    confirm(db, a, tid, at=clock.now(), settings=settings, key=f"race-{r}-{n}")
                )
            except DomainError as exc:
                results.append(exc.code)

        threads = [threading.Thread(target=go, args=(n,)) for n in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len([x for x in results if isinstance(x, tuple)]) == 1, results
        assert [x for x in results if not isinstance(x, tuple)] == ["transfer_already_confirmed"]

    def posted(s: Session) -> int:
        return (
            s.scalar(select(func.count(JournalEntry.id)).where(JournalEntry.kind == "transfer"))
            or 0
        )

    assert run_read(db, posted) == rounds
    assert run_read(db, customer_total) == 1_000_00
    assert verify_all(db).ok


def _wait_until_blocked(db: Database, done: threading.Event) -> None:
    """PostgreSQL: wait until another backend of this database waits on a row lock."""
    if db.is_sqlite:
        return  # SQLite writers queue on BEGIN IMMEDIATE; nothing to observe
    probe = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND wait_event_type = 'Lock'"
    )
    with db.engine.connect() as conn:
        for _ in range(500):
            if done.is_set() or conn.execute(probe).scalar():
                return
            done.wait(0.01)


@pytest.mark.slow
def test_same_key_confirm_racing_an_unfinished_one_replays_it(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    """The idempotency contract: a second request with the same key while the first is
    still running gets the first response, not an error."""

    def build(s: Session) -> tuple[Person, Person]:
        return (
            make_person(s, at=clock.now(), balance_minor=1_000_00),
            make_person(s, at=clock.now(), balance_minor=0),
        )

    a, b = run_write(db, build)
    _, prepared, _ = prepare(
        db,
        a,
        to=b.account.account_number,
        payee_name=b.name,
        amount="10",
        at=clock.now(),
        settings=settings,
    )
    action = confirm_action(a, prepared["id"], at=clock.now(), settings=settings, key="same-key-1")
    first_session = db.write_sessions()
    first = action(first_session)  # done, but not committed yet
    results: list[object] = []
    done = threading.Event()

    def second() -> None:
        try:
            results.append(run_write(db, action))
        except DomainError as exc:
            results.append(exc.code)
        finally:
            done.set()

    thread = threading.Thread(target=second)
    thread.start()
    _wait_until_blocked(db, done)
    first_session.commit()
    first_session.close()
    thread.join()
    assert results == [(first[0], first[1], True)]
    assert run_read(db, customer_total) == 1_000_00
    assert verify_all(db).ok
