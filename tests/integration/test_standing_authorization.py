"""`payments.confirm(authorized_as=...)`: the execution of a standing instruction (a
scheduled transfer, a batch line) that the customer confirmed with both factors when giving
it. No factor is asked again; every other rule is decided as for any confirm."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from factories import Person, make_person
from factories.bank import balance
from factories.transfers import prepare
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.identity.models import User
from wangyin.payments import service as payments
from wangyin.uow import run_read, run_write


def _people(db: Database, clock: FrozenClock) -> tuple[Person, Person]:
    def build(s: Session) -> tuple[Person, Person]:
        return (
            make_person(s, at=clock.now(), name="张伟", username="zhangwei"),
            make_person(s, at=clock.now(), name="李娜", username="lina", balance_minor=0),
        )

    return run_write(db, build)


def _execute(db: Database, payer: Person, tid: str, clock: FrozenClock, settings: Settings) -> str:
    def action(s: Session) -> str:
        done = payments.confirm(
            s,
            customer_id=payer.customer.id,
            transfer_id=tid,
            key_digest=None,
            at=clock.now(),
            settings=settings,
            authorized_as="scheduled",
        )
        return done.confirmed_with

    return run_write(db, action)


def test_a_standing_instruction_executes_without_factors_but_under_every_rule(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    a, b = _people(db, clock)
    _, first, _ = prepare(
        db,
        a,
        to=b.account.account_number,
        payee_name="李娜",
        amount="2000.00",
        at=clock.now(),
        settings=settings,
    )
    assert _execute(db, a, first["id"], clock, settings) == "scheduled"
    assert run_read(db, lambda s: balance(s, b.account)) == 2_000_00

    # A freeze since the instruction was given stops its execution.
    _, second, _ = prepare(
        db,
        a,
        to=b.account.account_number,
        payee_name="李娜",
        amount="1.00",
        at=clock.now(),
        settings=settings,
    )
    run_write(
        db, lambda s: s.execute(update(User).where(User.id == a.user.id).values(freeze="transfers"))
    )
    try:
        _execute(db, a, second["id"], clock, settings)
    except DomainError as error:
        assert error.code == "transfers_frozen"
    else:  # pragma: no cover - would be the bug
        raise AssertionError("a frozen customer's instruction was executed")
    assert run_read(db, lambda s: balance(s, b.account)) == 2_000_00
