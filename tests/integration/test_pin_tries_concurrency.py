"""Issue 11 #2 on the transfer path, on both databases: N concurrent confirmations with the
right code and a wrong transaction password consume N tries under the user row's lock;
the 5th freezes transfers, and every later attempt is refused whatever it carries - the
right PIN included. Found as: 9 concurrent wrong PINs all checked against a limit of 5,
then the right PIN moved 1,234.00 CNY after the lock."""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import Person, balance, make_person
from factories.bank import DEFAULT_PIN
from factories.transfers import latest_code, new_key, prepare
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.idempotency import service as idempotency
from wangyin.identity.models import User
from wangyin.identity.service import PIN_MAX_FAILURES
from wangyin.payments import service as payments
from wangyin.security.audit import Client
from wangyin.uow import run_read, run_write

ATTEMPTS = 12


def _confirm(db: Database, payer: Person, tid: str, pin: str, code: str, at: object) -> str:
    """One confirmation as the use case runs it (once per key; a refusal keeps its count)."""

    def action(s: Session) -> str:
        def execute() -> tuple[int, dict[str, str]]:
            payments.confirm(
                s,
                customer_id=payer.customer.id,
                transfer_id=tid,
                key_digest=None,
                transaction_password=pin,
                code=code,
                at=at,  # type: ignore[arg-type]
                settings=Settings(database_url="sqlite://"),
                client=Client(),
            )
            return 200, {}

        idempotency.once(
            s,
            scope=payer.user.public_id,
            key=new_key(),
            request={"op": "transfer.confirm", "id": tid, "pin": pin},
            at=at,  # type: ignore[arg-type]
            action=execute,
        )
        return "ok"

    try:
        return run_write(db, action)
    except DomainError as refused:
        return refused.code


def test_concurrent_wrong_pins_consume_one_try_each_and_the_fifth_freezes(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    at = clock.now()

    def build(s: Session) -> tuple[Person, Person]:
        return (
            make_person(s, at=at, balance_minor=10_000_00, name="张伟"),
            make_person(s, at=at, balance_minor=0, name="李娜"),
        )

    payer, payee = run_write(db, build)
    _, prepared, _ = prepare(
        db, payer, to=payee.account.account_number, payee_name="李娜", amount="1234.00",
        at=at, settings=settings,
    )
    tid = prepared["id"]

    def send(s: Session) -> str:
        payments.send_code(
            s, customer_id=payer.customer.id, transfer_id=tid, channel="sms",
            client=Client(), at=at, settings=settings,
        )
        s.flush()
        return latest_code(s, payer.customer.mobile)

    code = run_write(db, send)
    answers: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(ATTEMPTS)

    def attempt() -> None:
        start.wait()
        answer = _confirm(db, payer, tid, "000000", code, at)
        with lock:
            answers[answer] += 1

    threads = [threading.Thread(target=attempt) for _ in range(ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == {
        "second_factor_invalid": PIN_MAX_FAILURES,
        "transfers_frozen": ATTEMPTS - PIN_MAX_FAILURES,
    }, answers
    freeze = run_read(db, lambda s: s.scalar(select(User.freeze).where(User.id == payer.user.id)))
    assert freeze == "transfers"
    # The right PIN now changes nothing: the freeze is read under the same lock.
    assert _confirm(db, payer, tid, DEFAULT_PIN, code, at) == "transfers_frozen"
    assert run_read(db, lambda s: (balance(s, payer.account), balance(s, payee.account))) == (
        10_000_00,
        0,
    )
