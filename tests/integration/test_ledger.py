"""The ledger on both databases: balanced entries, refusals that post nothing, verify()."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from factories import available, balance, fund, make_account, make_customer
from wangyin.accounts.models import Account
from wangyin.clock import FrozenClock
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.ledger import service as ledger
from wangyin.ledger.models import JournalEntry, Posting
from wangyin.uow import run_read, run_write


def two_accounts(db: Database, at: datetime, opening: int = 1_000_00) -> tuple[Account, Account]:
    def build(s: Session) -> tuple[Account, Account]:
        a = make_account(s, make_customer(s, at=at), at=at, balance_minor=opening)
        b = make_account(s, make_customer(s, at=at), at=at)
        return a, b

    return run_write(db, build)


def transfer_legs(a: Account, b: Account, amount: int) -> list[ledger.Leg]:
    return [
        ledger.Leg(a.ledger_account_id, -amount, "CNY", memo="房租"),
        ledger.Leg(b.ledger_account_id, amount, "CNY", memo="房租"),
    ]


def counts(s: Session) -> tuple[int, int]:
    return (
        s.scalar(select(func.count(JournalEntry.id))) or 0,
        s.scalar(select(func.count(Posting.id))) or 0,
    )


def test_post_moves_money_and_records_postings(db: Database, clock: FrozenClock) -> None:
    at = clock.now()
    a, b = two_accounts(db, at)
    entry = run_write(
        db, lambda s: ledger.post(s, kind="transfer", legs=transfer_legs(a, b, 250_00), at=at)
    )

    def check(s: Session) -> None:
        assert balance(s, a) == 750_00
        assert balance(s, b) == 250_00
        postings = s.scalars(select(Posting).where(Posting.entry_id == entry.id)).all()
        assert sorted(p.amount_minor for p in postings) == [-250_00, 250_00]
        after = {p.ledger_account_id: p.balance_after_minor for p in postings}
        assert after == {a.ledger_account_id: 750_00, b.ledger_account_id: 250_00}
        assert ledger.verify(s).ok

    run_read(db, check)


@pytest.mark.parametrize("payees", [7, 12])
def test_a_posting_to_many_accounts_locks_and_moves_each(
    db: Database, clock: FrozenClock, payees: int
) -> None:
    """One debit, many credits (a payroll's entry): the few-accounts lock (one parameter
    each) and the many-accounts one (an expanding IN) book the same; a refusal on either
    posts nothing."""
    at = clock.now()

    def build(s: Session) -> tuple[Account, list[Account]]:
        payer = make_account(s, make_customer(s, at=at), at=at, balance_minor=100_00)
        return payer, [make_account(s, make_customer(s, at=at), at=at) for _ in range(payees)]

    payer, others = run_write(db, build)

    def legs(each: int) -> list[ledger.Leg]:
        return [ledger.Leg(payer.ledger_account_id, -each * payees, "CNY")] + [
            ledger.Leg(o.ledger_account_id, each, "CNY") for o in others
        ]

    before = run_read(db, counts)
    with pytest.raises(DomainError) as refused:
        run_write(db, lambda s: ledger.post(s, kind="payroll", legs=legs(20_00), at=at))
    assert refused.value.code == "insufficient_funds"
    assert run_read(db, counts) == before
    run_write(db, lambda s: ledger.post(s, kind="payroll", legs=legs(1_00), at=at))

    def check(s: Session) -> None:
        assert balance(s, payer) == 100_00 - payees * 1_00
        assert [balance(s, o) for o in others] == [1_00] * payees
        assert counts(s) == (before[0] + 1, before[1] + payees + 1)
        assert ledger.verify(s).ok

    run_read(db, check)


def test_insufficient_funds_posts_nothing(db: Database, clock: FrozenClock) -> None:
    at = clock.now()
    a, b = two_accounts(db, at, opening=100_00)
    before = run_read(db, counts)
    with pytest.raises(DomainError) as info:
        run_write(
            db,
            lambda s: ledger.post(s, kind="transfer", legs=transfer_legs(a, b, 100_01), at=at),
        )
    assert info.value.code == "insufficient_funds"
    assert run_read(db, counts) == before
    assert run_read(db, lambda s: (balance(s, a), balance(s, b))) == (100_00, 0)
    # Exactly the whole balance is fine.
    run_write(
        db, lambda s: ledger.post(s, kind="transfer", legs=transfer_legs(a, b, 100_00), at=at)
    )
    assert run_read(db, lambda s: (balance(s, a), balance(s, b))) == (0, 100_00)


def test_idempotency_key_replays_and_refuses_a_different_request(
    db: Database, clock: FrozenClock
) -> None:
    at = clock.now()
    a, b = two_accounts(db, at)

    def book(amount: int, digest: str):  # type: ignore[no-untyped-def]
        return run_write(
            db,
            lambda s: (
                ledger.post(
                    s,
                    kind="transfer",
                    legs=transfer_legs(a, b, amount),
                    at=at,
                    idempotency_key="order-1",
                    digest=digest,
                ).public_id
            ),
        )

    first = book(10_00, "d1")
    assert book(10_00, "d1") == first  # the replay finds the same entry
    with pytest.raises(DomainError) as info:
        book(20_00, "d2")
    assert info.value.code == "idempotency_key_reused"
    assert run_read(db, lambda s: (balance(s, a), balance(s, b))) == (990_00, 10_00)
    transfers = run_read(
        db,
        lambda s: s.scalar(
            select(func.count(JournalEntry.id)).where(JournalEntry.kind == "transfer")
        ),
    )
    assert transfers == 1


def test_holds_reduce_the_available_balance(db: Database, clock: FrozenClock) -> None:
    at = clock.now()
    a, b = two_accounts(db, at, opening=500_00)
    hold = run_write(
        db,
        lambda s: ledger.place_hold(
            s, account_id=a.ledger_account_id, amount_minor=300_00, reason="冻结", at=at
        ),
    )
    assert run_read(db, lambda s: (balance(s, a), available(s, a))) == (500_00, 200_00)

    # The held money cannot be spent, the rest can.
    with pytest.raises(DomainError) as info:
        run_write(db, lambda s: ledger.post(s, kind="t", legs=transfer_legs(a, b, 200_01), at=at))
    assert info.value.code == "insufficient_funds"
    with pytest.raises(DomainError):
        run_write(
            db,
            lambda s: ledger.place_hold(
                s, account_id=a.ledger_account_id, amount_minor=200_01, reason="x", at=at
            ),
        )
    run_write(db, lambda s: ledger.post(s, kind="t", legs=transfer_legs(a, b, 200_00), at=at))
    assert run_read(db, lambda s: (balance(s, a), available(s, a))) == (300_00, 0)
    assert run_read(db, lambda s: ledger.verify(s).ok)

    def release(s: Session) -> None:
        from wangyin.ledger.models import Hold

        ledger.release_hold(s, hold=s.get(Hold, hold.id), at=at)

    run_write(db, release)
    assert run_read(db, lambda s: available(s, a)) == 300_00
    assert run_read(db, lambda s: ledger.verify(s).ok)


def test_verify_is_clean_and_detects_a_tampered_balance(db: Database, clock: FrozenClock) -> None:
    at = clock.now()
    a, b = two_accounts(db, at)
    run_write(db, lambda s: ledger.post(s, kind="t", legs=transfer_legs(a, b, 1_00), at=at))
    report = run_read(db, ledger.verify)
    assert report.ok, report.problems
    assert report.checks["journal entries"] == 2

    # Someone edits a balance behind the ledger's back.
    def tamper(s: Session) -> None:
        s.execute(
            text(
                "UPDATE ledger_accounts SET balance_minor = balance_minor + 100000 WHERE id = :id"
            ),
            {"id": b.ledger_account_id},
        )

    run_write(db, tamper)
    report = run_read(db, ledger.verify)
    assert not report.ok
    assert any("postings sum to" in p for p in report.problems)
    assert any("last posting says" in p for p in report.problems)


def test_verify_detects_an_unbalanced_entry(db: Database, clock: FrozenClock) -> None:
    at = clock.now()
    a, b = two_accounts(db, at)
    entry = run_write(db, lambda s: ledger.post(s, kind="t", legs=transfer_legs(a, b, 5_00), at=at))

    def tamper(s: Session) -> None:
        s.execute(
            text(
                "UPDATE postings SET amount_minor = amount_minor + 1 "
                "WHERE entry_id = :e AND amount_minor > 0"
            ),
            {"e": entry.id},
        )

    run_write(db, tamper)
    report = run_read(db, ledger.verify)
    assert any(f"journal entry {entry.id} does not balance" in p for p in report.problems)


def test_deposit_helper_leaves_the_bank_balanced(db: Database, clock: FrozenClock) -> None:
    """Money enters only through a balanced entry: the bank's clearing account mirrors it."""
    at = clock.now()
    a, _ = two_accounts(db, at, opening=0)
    run_write(db, lambda s: fund(s, s.get(Account, a.id), 42_00, at=at))
    total = run_read(db, lambda s: s.scalar(text("SELECT SUM(balance_minor) FROM ledger_accounts")))
    assert int(total) == 0
