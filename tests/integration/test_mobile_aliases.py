"""Mobile aliases on both databases: one alias per mobile, and look-ups counted per payer
in the transaction that answers them, concurrent ones included."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.orm import Session

from factories import Person, make_person
from factories.transfers import latest_code
from wangyin.aliases import service as aliases
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.security.audit import Client
from wangyin.uow import run_read, run_write

CLIENT = Client(ip="127.0.0.1", client_type="api")


def _register(db: Database, who: Person, clock: FrozenClock, settings: Settings) -> None:
    def send(s: Session) -> None:
        aliases.send_alias_code(
            s,
            user_id=who.user.id,
            customer_id=who.customer.id,
            account_id=who.account.public_id,
            channel="sms",
            at=clock.now(),
            settings=settings,
            client=CLIENT,
        )

    run_write(db, send)
    code = run_read(db, lambda s: latest_code(s, who.customer.mobile))
    run_write(
        db,
        lambda s: aliases.register_alias(
            s,
            user_id=who.user.id,
            customer_id=who.customer.id,
            actor=who.user.public_id,
            account_id=who.account.public_id,
            code=code,
            at=clock.now(),
            settings=settings,
            client=CLIENT,
        ),
    )


def test_alias_resolves_and_look_ups_are_counted_under_concurrency(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    payee, payer = run_write(
        db,
        lambda s: (
            make_person(s, at=clock.now(), name="李娜", username="lina"),
            make_person(s, at=clock.now(), name="张伟", username="zhangwei"),
        ),
    )
    _register(db, payee, clock, settings)
    number, name = run_write(
        db,
        lambda s: aliases.payee_for_transfer(
            s,
            customer_id=payer.customer.id,
            mobile=payee.customer.mobile,
            name_check="娜",
            at=clock.now(),
        ),
    )
    assert (number, name) == (payee.account.account_number, "李娜")

    outcomes: list[str] = []

    def look() -> None:
        try:
            run_write(
                db,
                lambda s: aliases.look_up(
                    s,
                    customer_id=payer.customer.id,
                    mobile=payee.customer.mobile,
                    at=clock.now(),
                ),
            )
            outcomes.append("found")
        except DomainError as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=look) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 10 an hour, the payment above included: 9 more answered, the rest refused.
    assert sorted(outcomes) == ["found"] * 9 + ["rate_limited"] * 3


def test_a_wrong_name_is_refused_and_counted(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    payee, payer = run_write(
        db,
        lambda s: (
            make_person(s, at=clock.now(), name="李娜", username="lina"),
            make_person(s, at=clock.now(), name="张伟", username="zhangwei"),
        ),
    )
    _register(db, payee, clock, settings)
    for _ in range(10):
        with pytest.raises(DomainError) as refused:
            run_write(
                db,
                lambda s: aliases.payee_for_transfer(
                    s,
                    customer_id=payer.customer.id,
                    mobile=payee.customer.mobile,
                    name_check="王",
                    at=clock.now(),
                ),
            )
        assert refused.value.code == "alias_name_mismatch"
    with pytest.raises(DomainError) as limited:
        run_write(
            db,
            lambda s: aliases.payee_for_transfer(
                s,
                customer_id=payer.customer.id,
                mobile=payee.customer.mobile,
                name_check="李",
                at=clock.now(),
            ),
        )
    assert limited.value.code == "rate_limited"
