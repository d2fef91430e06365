"""The rules of the non-counter channel (issue 6 §6), on both databases: modest default
limits; 5万 a day to others without a certificate (own accounts excepted), decided again
under the user row's lock at confirm; the large-transfer reminder and the new-payee
warning acknowledged before confirming; personal account classes II and III with their
counters decided under the ledger rows' locks."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from factories import Person, make_person
from factories.bank import balance, make_account
from factories.transfers import confirm, prepare
from wangyin.accounts.models import Account
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.identity.models import User
from wangyin.uow import run_read, run_write


def _people(db: Database, clock: FrozenClock) -> tuple[Person, Person]:
    def build(s: Session) -> tuple[Person, Person]:
        at = clock.now()
        return (
            make_person(s, at=at, name="张伟", username="zhangwei", balance_minor=2_000_000_00),
            make_person(s, at=at, name="李娜", username="lina", balance_minor=500_00),
        )

    return run_write(db, build)


def _raise_limits(db: Database, person: Person) -> None:
    run_write(
        db,
        lambda s: s.execute(
            update(User)
            .where(User.id == person.user.id)
            .values(single_limit_minor=5_000_000_00, daily_limit_minor=10_000_000_00)
        ),
    )


def _try(call: Any) -> tuple[int, dict[str, Any]]:
    try:
        status, body, _ = call()
    except DomainError as error:
        return error.status, {"code": error.code, **error.params}
    return status, body


def _prepare(
    db: Database,
    payer: Person,
    to: Account | Person,
    name: str,
    amount: str,
    clock: FrozenClock,
    settings: Settings,
) -> tuple[int, dict[str, Any]]:
    number = to.account.account_number if isinstance(to, Person) else to.account_number
    return _try(
        lambda: prepare(
            db, payer, to=number, payee_name=name, amount=amount, at=clock.now(), settings=settings
        )
    )


def _confirm(
    db: Database, payer: Person, tid: str, clock: FrozenClock, settings: Settings, **extra: Any
) -> tuple[int, dict[str, Any]]:
    return _try(lambda: confirm(db, payer, tid, at=clock.now(), settings=settings, **extra))


def test_new_customers_get_modest_default_limits_below_the_bank_maxima(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    a, b = _people(db, clock)
    assert settings.default_single_transfer_limit_minor < settings.single_transfer_limit_minor
    status, body = _prepare(db, a, b, "李娜", "50000.01", clock, settings)
    assert (status, body["code"], body["limit"]) == (422, "over_single_limit", "50,000.00")
    _raise_limits(db, a)  # the customer raises them (security center, with a code)
    status, body = _prepare(db, a, b, "李娜", "50000.01", clock, settings)
    assert body["code"] == "certificate_required"  # now the 5万 rule speaks


def test_transfers_to_others_above_5wan_a_day_need_a_certificate_own_accounts_excepted(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    a, b = _people(db, clock)
    _raise_limits(db, a)
    own = run_write(db, lambda s: make_account(s, a.customer, at=clock.now()))

    status, first = _prepare(db, a, b, "李娜", "30000.00", clock, settings)
    assert status == 201
    status, second = _prepare(db, a, b, "李娜", "20000.01", clock, settings)
    assert status == 201  # prepared before the first is confirmed: confirm decides
    assert _confirm(db, a, first["id"], clock, settings, acknowledged=True)[0] == 200
    status, refused = _confirm(db, a, second["id"], clock, settings, acknowledged=True)
    assert (status, refused["code"], refused["limit"]) == (422, "certificate_required", "50,000.00")
    assert run_read(db, lambda s: balance(s, b.account)) == 500_00 + 30_000_00

    # What is left below 5万 goes; the customer's own account takes any amount.
    status, rest = _prepare(db, a, b, "李娜", "20000.00", clock, settings)
    assert _confirm(db, a, rest["id"], clock, settings, acknowledged=True)[0] == 200
    status, to_own = _prepare(db, a, own, "张伟", "200000.00", clock, settings)
    assert status == 201, to_own
    assert _confirm(db, a, to_own["id"], clock, settings)[0] == 200
    # The next bank day starts again from nothing.
    clock.advance(days=1)
    assert _prepare(db, a, b, "李娜", "50000.00", clock, settings)[0] == 201


def test_large_day_and_large_first_payment_are_acknowledged_before_confirming(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    a, b = _people(db, clock)
    _raise_limits(db, a)
    own = run_write(db, lambda s: make_account(s, a.customer, at=clock.now()))

    # A first payment over 1万 to someone never paid before: the anti-fraud warning.
    status, first = _prepare(db, a, b, "李娜", "15000.00", clock, settings)
    assert first["warnings"] == ["new_payee"]
    status, refused = _confirm(db, a, first["id"], clock, settings, key="ack-missing-0001")
    assert (status, refused["code"]) == (422, "warnings_not_acknowledged")
    # The refusal is the answer under its key (rule 4), even when re-sent acknowledged.
    again = _confirm(db, a, first["id"], clock, settings, key="ack-missing-0001", acknowledged=True)
    assert again[0] == 422
    assert run_read(db, lambda s: balance(s, b.account)) == 500_00
    assert _confirm(db, a, first["id"], clock, settings, acknowledged=True)[0] == 200
    # Paid once: the same payee is no longer new.
    assert _prepare(db, a, b, "李娜", "15000.00", clock, settings)[1]["warnings"] == []
    # Small amounts and own accounts carry no new-payee warning.
    assert _prepare(db, a, own, "张伟", "15000.00", clock, settings)[1]["warnings"] == []

    # Past 30万 for the day (own accounts count here): the large-transfer reminder.
    status, big = _prepare(db, a, own, "张伟", "290000.00", clock, settings)
    assert big["warnings"] == ["large_amount"]
    assert _confirm(db, a, big["id"], clock, settings, acknowledged=True)[0] == 200


def _classed(
    db: Database,
    clock: FrozenClock,
    person: Person,
    account_class: str,
    balance_minor: int,
    *,
    bound: bool = True,
) -> Account:
    def build(s: Session) -> Account:
        account = make_account(s, person.customer, at=clock.now(), balance_minor=balance_minor)
        account.account_class = account_class
        account.bound_account_id = person.account.id if bound else None
        s.flush()
        return account

    return run_write(db, build)


def _person_paying_from(person: Person, account: Account) -> Person:
    return Person(person.customer, person.user, account, person.card_number)


def test_class_ii_limits_flows_with_other_accounts_but_not_with_its_bound_account(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    a, b = _people(db, clock)
    ii = _classed(db, clock, a, "II", 50_000_00)
    a_ii = _person_paying_from(a, ii)

    def pay(to: Account | Person, name: str, amount: str) -> tuple[int, dict[str, Any]]:
        status, body = _prepare(db, a_ii, to, name, amount, clock, settings)
        if status != 201:
            return status, body
        return _confirm(db, a_ii, body["id"], clock, settings, acknowledged=True)

    assert pay(b, "李娜", "6000.00")[0] == 200
    status, refused = pay(b, "李娜", "4000.01")
    assert (status, refused["code"], refused["limit"]) == (422, "class_limit", "10,000.00")
    assert pay(b, "李娜", "4000.00")[0] == 200
    # To and from its bound class-I account nothing is limited.
    assert pay(a, "张伟", "20000.00")[0] == 200
    # Inflow from others is limited too: nobody else may send it more than 1万 a day.
    c = run_write(
        db, lambda s: make_person(s, at=clock.now(), name="王芳", balance_minor=100_000_00)
    )
    status, refused = _prepare(db, c, ii, "张伟", "10000.01", clock, settings)
    assert (status, refused["code"]) == (422, "payee_class_limit")
    assert _prepare(db, c, ii, "张伟", "10000.00", clock, settings)[0] == 201
    # The year: 20万 in all; counted per bank year.
    run_write(
        db,
        lambda s: s.execute(
            update(Account).where(Account.id == ii.id).values(class_year_out_minor=195_000_00)
        ),
    )
    clock.advance(days=1)
    status, refused = pay(b, "李娜", "5000.01")
    assert (refused["code"], refused["limit"]) == ("class_limit", "200,000.00")
    assert pay(b, "李娜", "5000.00")[0] == 200


def test_class_iii_keeps_its_balance_under_2000(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    a, b = _people(db, clock)
    iii = _classed(db, clock, b, "III", 1_500_00)
    status, refused = _prepare(db, a, iii, "李娜", "500.01", clock, settings)
    assert (status, refused["code"], refused["limit"]) == (422, "payee_class_limit", "2,000.00")
    status, ok = _prepare(db, a, iii, "李娜", "500.00", clock, settings)
    assert _confirm(db, a, ok["id"], clock, settings)[0] == 200
    assert run_read(db, lambda s: balance(s, iii)) == 2_000_00


def test_class_counters_are_decided_under_the_ledger_locks(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    """Eight concurrent 3,000 payments out of a class II account (1万 a day to others):
    three go through, the rest are refused class_limit; the counter says 9,000."""
    a, b = _people(db, clock)
    ii = _classed(db, clock, a, "II", 50_000_00)
    a_ii = _person_paying_from(a, ii)
    prepared = [
        _prepare(db, a_ii, b, "李娜", "3000.00", clock, settings)[1]["id"] for _ in range(8)
    ]
    results: list[int] = []

    def go(tid: str) -> None:
        results.append(_confirm(db, a_ii, tid, clock, settings)[0])

    threads = [threading.Thread(target=go, args=(tid,)) for tid in prepared]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200] * 3 + [422] * 5
    counted = run_read(db, lambda s: s.get_one(Account, ii.id, populate_existing=True))
    assert counted.class_day_out_minor == 9_000_00
    assert run_read(db, lambda s: balance(s, ii)) == 50_000_00 - 9_000_00


@pytest.mark.parametrize("amount", ["0.01", "9999.99"])
def test_class_i_accounts_pay_without_class_reads(
    db: Database, clock: FrozenClock, settings: Settings, amount: str
) -> None:
    a, b = _people(db, clock)
    status, body = _prepare(db, a, b, "李娜", amount, clock, settings)
    assert status == 201 and body["warnings"] == []
    assert _confirm(db, a, body["id"], clock, settings)[0] == 200
