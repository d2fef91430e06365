"""The bank's own accounts split into sub-accounts (ARCHITECTURE rule 8): payments to one
purpose spread over several rows, and reports and `verify` see one account per purpose."""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import make_account, make_customer
from wangyin.clock import FrozenClock
from wangyin.db import Database
from wangyin.ids import new_public_id
from wangyin.ledger import service as ledger
from wangyin.ledger.models import LedgerAccount
from wangyin.uow import run_read, run_write
from wangyin.verify import verify_all

SHARDS = 16


def test_shards_are_stable_and_spread() -> None:
    ids = [new_public_id() for _ in range(2_000)]
    assert [ledger.shard_of(i, SHARDS) for i in ids] == [ledger.shard_of(i, SHARDS) for i in ids]
    spread = Counter(ledger.shard_of(i, SHARDS) for i in ids)
    assert set(spread) == set(range(SHARDS))
    assert min(spread.values()) > 2_000 / SHARDS / 2  # no shard starves


def test_sub_account_codes_keep_the_first_one_as_it_was(db: Database, clock: FrozenClock) -> None:
    def open_two(s: Session) -> tuple[str, str]:
        first = ledger.bank_account(s, purpose="CLEARING", currency="CNY", at=clock.now(), shard=0)
        other = ledger.bank_account(s, purpose="CLEARING", currency="CNY", at=clock.now(), shard=7)
        return first.code, other.code

    assert run_write(db, open_two) == ("BANK:CLEARING:CNY", "BANK:CLEARING:CNY:07")
    first = run_write(
        db, lambda s: ledger.internal_account(s, purpose="CLEARING", currency="CNY", at=clock.now())
    )
    assert first.code == "BANK:CLEARING:CNY"


def test_concurrent_payments_to_the_clearing_purpose_use_several_rows_and_verify_sums_them(
    db: Database, clock: FrozenClock
) -> None:
    at = clock.now()

    def customers(s: Session) -> list[int]:
        accounts = [
            make_account(s, make_customer(s, at=at), at=at, balance_minor=1_000_00)
            for _ in range(8)
        ]
        return [account.ledger_account_id for account in accounts]

    payers = run_write(db, customers)
    errors: list[BaseException] = []

    def pay(payer: int, rounds: int) -> None:
        try:
            for _ in range(rounds):
                entry_id = new_public_id()

                def book(s: Session, entry_id: str = entry_id) -> None:
                    clearing = ledger.bank_account(
                        s,
                        purpose="CLEARING",
                        currency="CNY",
                        at=at,
                        shard=ledger.shard_of(entry_id, SHARDS),
                    )
                    ledger.post(
                        s,
                        kind="interbank",
                        at=at,
                        legs=[
                            ledger.Leg(payer, -1_00, "CNY"),
                            ledger.Leg(clearing.id, 1_00, "CNY"),
                        ],
                    )

                run_write(db, book)
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=pay, args=(payer, 10)) for payer in payers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors

    used = run_read(
        db,
        lambda s: s.scalars(
            select(LedgerAccount.code).where(LedgerAccount.code.like("BANK:CLEARING:CNY%"))
        ).all(),
    )
    assert len(used) > 4, "80 payments should reach several sub-accounts, not queue on one"
    report = verify_all(db)
    assert report.ok, report.problems
    totals = {k: v for k, v in report.checks.items() if k.startswith("bank CLEARING CNY")}
    # The openings came from the CLEARING purpose too (factories.fund): -8,000.00 + 80 * 1.00.
    assert list(totals.values()) == [-8 * 1_000_00 + 80 * 1_00], totals
