"""The payee book on both databases: saved payees, search, ownership, the per-payee limit
enforced by prepare, key rotation, and counting under the customer's lock."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from factories import Person, make_person
from factories.transfers import pay, prepare
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.payees import service as payees
from wangyin.payees.models import Payee
from wangyin.security.audit import Client
from wangyin.security.keys import load_keyring, use_keyring
from wangyin.security.rotation import rotate
from wangyin.uow import run_read, run_write

CLIENT = Client(ip="127.0.0.1", client_type="api")


def _two(db: Database, clock: FrozenClock) -> tuple[Person, Person]:
    def build(s: Session) -> tuple[Person, Person]:
        at = clock.now()
        return (
            make_person(s, at=at, name="张伟", username="zhangwei", balance_minor=10_000_00),
            make_person(s, at=at, name="李娜", username="lina", balance_minor=500_00),
        )

    return run_write(db, build)


def _add(db: Database, who: Person, name: str, number: str, **extra: object) -> payees.PayeeView:
    return run_write(
        db,
        lambda s: payees.add_payee(
            s,
            customer_id=who.customer.id,
            actor=who.user.public_id,
            name=name,
            number=number,
            at=extra.pop("at"),  # type: ignore[arg-type]
            client=CLIENT,
            **extra,  # type: ignore[arg-type]
        ),
    )


def test_a_payee_is_saved_encrypted_and_found_by_name_initials_and_tail(
    db: Database, clock: FrozenClock
) -> None:
    a, b = _two(db, clock)
    number = b.account.account_number
    _add(db, a, "李娜", f"{number[:4]} {number[4:]}", nickname="妹妹", at=clock.now())

    stored = run_read(db, lambda s: s.execute(text("SELECT number, number_tail FROM payees")).one())
    assert number not in stored[0]  # the third party's number is not in clear
    assert stored[1] == number[-4:]

    def search(q: str) -> list[str]:
        found = run_read(db, lambda s: payees.list_payees(s, customer_id=a.customer.id, query=q))
        return [v.account_number for v in found]

    assert search("") == [number]
    assert search("李") == [number]
    assert search("ln") == [number]  # pinyin initials of 李娜
    assert search("妹妹") == [number]
    assert search(number[-4:]) == [number]
    assert search("zw") == []
    # Another customer's book is their own.
    assert run_read(db, lambda s: payees.list_payees(s, customer_id=b.customer.id)) == []


def test_the_same_number_is_saved_once_and_bad_numbers_are_refused(
    db: Database, clock: FrozenClock
) -> None:
    a, b = _two(db, clock)
    _add(db, a, "李娜", b.account.account_number, at=clock.now())
    with pytest.raises(DomainError) as again:
        _add(db, a, "李娜", b.account.account_number, at=clock.now())
    assert again.value.code == "payee_already_saved"
    for bad in ("12ab5678", "1234", "1" * 31):
        with pytest.raises(DomainError) as refused:
            _add(db, a, "李娜", bad, at=clock.now())
        assert refused.value.code == "validation_error"
    assert run_read(db, lambda s: len(s.execute(select(Payee)).all())) == 1


def test_someone_elses_payee_is_not_found(db: Database, clock: FrozenClock) -> None:
    a, b = _two(db, clock)
    saved = _add(db, a, "李娜", b.account.account_number, at=clock.now())
    for action in (
        lambda s: payees.get_payee(s, customer_id=b.customer.id, payee_id=saved.id),
        lambda s: payees.remove_payee(
            s,
            customer_id=b.customer.id,
            actor=b.user.public_id,
            payee_id=saved.id,
            at=clock.now(),
            client=CLIENT,
        ),
    ):
        with pytest.raises(DomainError) as refused:
            run_write(db, action)
        assert refused.value.code == "payee_entry_not_found"


def test_prepare_refuses_an_amount_over_the_payees_own_limit(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    a, b = _two(db, clock)
    _add(db, a, "李娜", b.account.account_number, limit_minor=100_00, at=clock.now())

    def attempt(amount: str) -> tuple[int, dict]:  # type: ignore[type-arg]
        try:
            status, body, _ = prepare(
                db,
                a,
                to=b.account.account_number,
                payee_name="李娜",
                amount=amount,
                at=clock.now(),
                settings=settings,
            )
        except DomainError as error:
            return 422, {"code": error.code, **error.params}
        return status, body

    status, body = attempt("100.01")
    assert (status, body["code"], body["limit"]) == (422, "over_payee_limit", "100.00")
    assert attempt("100.00")[0] == 201
    # The limit is the payer's own: another payer to the same account is not bound by it.
    c = run_write(
        db,
        lambda s: make_person(
            s, at=clock.now(), name="王芳", username="wangfang", balance_minor=1_000_00
        ),
    )
    _add(db, c, "李娜", b.account.account_number, at=clock.now())  # no limit of c's own
    status, _, _ = prepare(
        db,
        c,
        to=b.account.account_number,
        payee_name="李娜",
        amount="200.00",
        at=clock.now(),
        settings=settings,
    )
    assert status == 201


def test_saving_the_payee_of_a_completed_transfer_links_its_history(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    a, b = _two(db, clock)
    done = pay(db, a, b, "12.00", at=clock.now(), settings=settings)
    recent = run_read(db, lambda s: payees.recent_payees(s, customer_id=a.customer.id))
    assert [(r.name, r.saved) for r in recent] == [("李娜", False)]

    saved = run_write(
        db,
        lambda s: payees.save_from_transfer(
            s,
            customer_id=a.customer.id,
            actor=a.user.public_id,
            transfer_id=done["id"],
            at=clock.now(),
            client=CLIENT,
        ),
    )
    assert (saved.name, saved.account_number, saved.source) == (
        "李娜",
        b.account.account_number,
        "transfer",
    )
    listed = run_read(db, lambda s: payees.list_payees(s, customer_id=a.customer.id))
    assert listed[0].last_paid_at is not None
    assert run_read(db, lambda s: payees.recent_payees(s, customer_id=a.customer.id))[0].saved
    # Only the customer's own completed transfers can be saved from.
    with pytest.raises(DomainError) as refused:
        run_write(
            db,
            lambda s: payees.save_from_transfer(
                s,
                customer_id=b.customer.id,
                actor=b.user.public_id,
                transfer_id=done["id"],
                at=clock.now(),
                client=CLIENT,
            ),
        )
    assert refused.value.code == "transfer_not_found"


def test_the_book_has_a_ceiling_counted_under_the_customers_lock(
    db: Database, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = _two(db, clock)
    monkeypatch.setattr(payees, "MAX_PAYEES", 3)
    errors: list[str] = []

    def add(i: int) -> None:
        try:
            _add(db, a, f"收款人{i}", f"62220000000000{i:05d}", at=clock.now())
        except DomainError as error:
            errors.append(error.code)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    count = run_read(db, lambda s: len(s.execute(select(Payee.id)).all()))
    assert count == 3
    assert errors == ["payee_book_full"] * 5


def test_keys_rotate_re_encrypts_and_re_hashes_payees(
    db: Database,
    clock: FrozenClock,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    a, b = _two(db, clock)
    _add(db, a, "李娜", b.account.account_number, at=clock.now())
    before = run_read(db, lambda s: s.execute(text("SELECT number, number_hash FROM payees")).one())
    key_file = tmp_path / "keys.json"
    previous = load_keyring()
    key_file.write_text(previous.to_json())
    try:
        counts = rotate(db, key_file=key_file)
        _check_rotated(db, a, b, before, counts, clock)
    finally:
        use_keyring(previous)  # the process keyring of the other tests


def _check_rotated(  # type: ignore[no-untyped-def]
    db: Database, a: Person, b: Person, before, counts: dict[str, int], clock: FrozenClock
) -> None:
    assert counts["payees.number"] == 1
    after = run_read(db, lambda s: s.execute(text("SELECT number, number_hash FROM payees")).one())
    assert after[0] != before[0] and after[1] != before[1]
    listed = run_read(db, lambda s: payees.list_payees(s, customer_id=a.customer.id, query=""))
    assert listed[0].account_number == b.account.account_number
    # The duplicate check still finds it under the new look-up key.
    with pytest.raises(DomainError) as again:
        _add(db, a, "李娜", b.account.account_number, at=clock.now())
    assert again.value.code == "payee_already_saved"
