"""Intra-bank transfers through the service layer on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import Person, balance, make_account, make_person
from factories.transfers import confirm, pay, prepare
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.identity import service as identity
from wangyin.identity.models import User
from wangyin.identity.service import Caller
from wangyin.ledger.models import JournalEntry
from wangyin.payments.actions import prepare_transfer
from wangyin.payments.schemas import TransferPrepareIn
from wangyin.runtime import AppState
from wangyin.security.audit import Client
from wangyin.uow import run_read, run_write


@pytest.fixture
def limited() -> Settings:
    return Settings(
        database_url="sqlite://",
        single_transfer_limit_minor=1_000_00,
        daily_transfer_limit_minor=1_500_00,
    )


@pytest.fixture
def people(db: Database, clock: FrozenClock) -> tuple[Person, Person]:
    def build(s: Session) -> tuple[Person, Person]:
        return (
            make_person(s, at=clock.now(), balance_minor=10_000_00, name="张伟"),
            make_person(s, at=clock.now(), balance_minor=0, name="李娜"),
        )

    return run_write(db, build)


def balances(db: Database, *people: Person) -> tuple[int, ...]:
    return run_read(db, lambda s: tuple(balance(s, p.account) for p in people))


def transfer_entries(db: Database) -> int:
    return int(
        run_read(
            db,
            lambda s: s.scalar(
                select(func.count(JournalEntry.id)).where(JournalEntry.kind == "transfer")
            ),
        )
        or 0
    )


def code(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(DomainError) as info:
        call()
    return info.value.code


def test_prepare_then_confirm_moves_money_once(
    db: Database, clock: FrozenClock, settings: Settings, people: tuple[Person, Person]
) -> None:
    a, b = people
    status, prepared, replayed = prepare(
        db,
        a,
        to=b.account.account_number,
        payee_name="李娜",
        amount="1234.56",
        at=clock.now(),
        settings=settings,
        remark="午饭",
    )
    assert (status, prepared["status"], replayed) == (201, "CHALLENGE_PENDING", False)
    assert prepared["to_account_number"].startswith(b.account.account_number[:4] + " ****")
    assert balances(db, a, b) == (10_000_00, 0)  # preparing moves nothing

    clock.advance(seconds=30)
    status, confirmed, _ = confirm(
        db, a, prepared["id"], at=clock.now(), settings=settings, key_digest=prepared["key_digest"]
    )
    assert (status, confirmed["status"]) == (200, "COMPLETED")
    assert balances(db, a, b) == (10_000_00 - 1234_56, 1234_56)
    assert transfer_entries(db) == 1
    assert code(lambda: confirm(db, a, prepared["id"], at=clock.now(), settings=settings)) == (
        "transfer_already_confirmed"
    )
    assert transfer_entries(db) == 1


def test_payee_may_be_addressed_by_card_number(
    db: Database, clock: FrozenClock, settings: Settings, people: tuple[Person, Person]
) -> None:
    a, b = people
    _, prepared, _ = prepare(
        db,
        a,
        to=b.card_number,
        payee_name=" 李娜 ",
        amount="10",
        at=clock.now(),
        settings=settings,
    )
    confirm(db, a, prepared["id"], at=clock.now(), settings=settings)
    assert balances(db, a, b) == (9_990_00, 10_00)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"amount": "0.001"}, "amount_too_precise"),
        ({"amount": "0"}, "amount_not_positive"),
        ({"amount": "-5"}, "amount_not_positive"),
        ({"currency": "XYZ"}, "unknown_currency"),
        ({"currency": "USD"}, "currency_mismatch"),
        ({"payee_name": "李四"}, "payee_name_mismatch"),
        ({"to": "6217000000000000000"}, "payee_not_found"),
        ({"amount": "10000.01"}, "insufficient_funds"),
        ({"from_account_id": "0192f000-0000-7000-8000-000000000000"}, "account_not_found"),
    ],
)
def test_prepare_refusals(
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    people: tuple[Person, Person],
    changes: dict[str, str],
    expected: str,
) -> None:
    a, b = people
    args = {"to": b.account.account_number, "payee_name": "李娜", "amount": "1.00"} | changes
    assert code(lambda: prepare(db, a, at=clock.now(), settings=settings, **args)) == expected
    assert balances(db, a, b) == (10_000_00, 0)


def test_same_account_is_refused(
    db: Database, clock: FrozenClock, settings: Settings, people: tuple[Person, Person]
) -> None:
    a, _ = people
    refused = code(
        lambda: prepare(
            db,
            a,
            to=a.account.account_number,
            payee_name=a.name,
            amount="1",
            at=clock.now(),
            settings=settings,
        )
    )
    assert refused == "same_account"


def test_single_transfer_limit(
    db: Database, clock: FrozenClock, limited: Settings, people: tuple[Person, Person]
) -> None:
    a, b = people
    target = {"to": b.account.account_number, "payee_name": "李娜"}
    assert (
        code(lambda: prepare(db, a, amount="1000.01", at=clock.now(), settings=limited, **target))
        == "over_single_limit"
    )
    _, ok, _ = prepare(db, a, amount="1000.00", at=clock.now(), settings=limited, **target)
    assert ok["status"] == "CHALLENGE_PENDING"


def test_daily_limit_follows_the_shanghai_bank_day(
    db: Database, clock: FrozenClock, limited: Settings, people: tuple[Person, Person]
) -> None:
    a, b = people
    # 23:59 in Shanghai on 2 March is 15:59 UTC: the bank day ends at 16:00 UTC.
    clock.set(datetime(2026, 3, 2, 15, 59, tzinfo=UTC))
    pay(db, a, b, "1000.00", at=clock.now(), settings=limited)
    pay(db, a, b, "500.00", at=clock.now(), settings=limited)
    refused = code(lambda: pay(db, a, b, "0.01", at=clock.now(), settings=limited))
    assert refused == "over_daily_limit"

    clock.set(datetime(2026, 3, 2, 16, 0, tzinfo=UTC))  # 00:00 on 3 March in Shanghai
    pay(db, a, b, "1000.00", at=clock.now(), settings=limited)
    assert balances(db, a, b) == (10_000_00 - 2500_00, 2500_00)
    # Still the same UTC day, but the same Shanghai day as the 1000.00 just sent.
    clock.set(datetime(2026, 3, 2, 23, 0, tzinfo=UTC))
    assert code(lambda: pay(db, a, b, "500.01", at=clock.now(), settings=limited)) == (
        "over_daily_limit"
    )


def test_confirm_rechecks_the_daily_limit(
    db: Database, clock: FrozenClock, limited: Settings, people: tuple[Person, Person]
) -> None:
    a, b = people
    target = {"to": b.account.account_number, "payee_name": "李娜"}
    _, first, _ = prepare(db, a, amount="1000", at=clock.now(), settings=limited, **target)
    _, second, _ = prepare(db, a, amount="1000", at=clock.now(), settings=limited, **target)
    confirm(db, a, first["id"], at=clock.now(), settings=limited)
    assert code(lambda: confirm(db, a, second["id"], at=clock.now(), settings=limited)) == (
        "over_daily_limit"
    )
    assert balances(db, a, b) == (9_000_00, 1_000_00)


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"freeze": "transfers"}, "transfers_frozen"),
        ({"freeze": "all"}, "account_frozen"),
        ({"edition": "public"}, "public_edition"),
    ],
)
def test_confirm_reads_freeze_and_edition_on_the_locked_user_row(
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    people: tuple[Person, Person],
    change: dict[str, str],
    refusal: str,
) -> None:
    """Issue 11 #2: a freeze that lands between prepare and confirm (a PIN lockout, the
    customer freezing from another device) stops the confirmation; it is read under the
    user row's lock, not from what the session saw."""
    a, b = people
    _, prepared, _ = prepare(
        db, a, amount="10", to=b.account.account_number, payee_name="李娜",
        at=clock.now(), settings=settings,
    )

    def freeze(s: Session) -> None:
        user = s.get_one(User, a.user.id)
        for name, value in change.items():
            setattr(user, name, value)

    run_write(db, freeze)
    assert code(lambda: confirm(db, a, prepared["id"], at=clock.now(), settings=settings)) == (
        refusal
    )
    assert balances(db, a, b) == (10_000_00, 0)


def test_expired_request_cannot_be_confirmed(
    db: Database, clock: FrozenClock, settings: Settings, people: tuple[Person, Person]
) -> None:
    a, b = people
    _, prepared, _ = prepare(
        db,
        a,
        to=b.account.account_number,
        payee_name="李娜",
        amount="5",
        at=clock.now(),
        settings=settings,
    )
    clock.advance(seconds=settings.transfer_confirm_seconds + 1)
    assert code(lambda: confirm(db, a, prepared["id"], at=clock.now(), settings=settings)) == (
        "transfer_expired"
    )
    assert balances(db, a, b) == (10_000_00, 0)
    assert transfer_entries(db) == 0


def test_key_digest_mismatch_is_refused(
    db: Database, clock: FrozenClock, settings: Settings, people: tuple[Person, Person]
) -> None:
    a, b = people
    _, prepared, _ = prepare(
        db,
        a,
        to=b.account.account_number,
        payee_name="李娜",
        amount="5",
        at=clock.now(),
        settings=settings,
    )
    forged = "0" * 64
    assert (
        code(
            lambda: confirm(
                db, a, prepared["id"], at=clock.now(), settings=settings, key_digest=forged
            )
        )
        == "transfer_data_changed"
    )
    assert balances(db, a, b) == (10_000_00, 0)


def test_another_customers_transfer_is_not_found(
    db: Database, clock: FrozenClock, settings: Settings, people: tuple[Person, Person]
) -> None:
    a, b = people
    _, prepared, _ = prepare(
        db,
        a,
        to=b.account.account_number,
        payee_name="李娜",
        amount="5",
        at=clock.now(),
        settings=settings,
    )
    assert code(lambda: confirm(db, b, prepared["id"], at=clock.now(), settings=settings)) == (
        "transfer_not_found"
    )
    # And B cannot pay out of A's account either.
    assert (
        code(
            lambda: prepare(
                db,
                b,
                to=a.account.account_number,
                payee_name="张伟",
                amount="1",
                at=clock.now(),
                settings=settings,
                from_account_id=a.account.public_id,
            )
        )
        == "account_not_found"
    )
    assert balances(db, a, b) == (10_000_00, 0)


def test_public_edition_may_not_transfer(
    db: Database, clock: FrozenClock, settings: Settings, people: tuple[Person, Person]
) -> None:
    a, b = people
    def public_session(s: Session) -> str:
        user = s.get_one(User, a.user.id)
        user.edition = "public"
        return identity.start_session(
            s, user=user, client_type="api", ip="", user_agent="", at=clock.now(), settings=settings
        ).token

    token = run_write(db, public_session)
    caller = Caller(
        token=token, via_cookie=False, csrf_sent="", path="/api/v1/transfers",
        unsafe_method=True, client=Client(),
    )
    body = TransferPrepareIn(
        from_account_id=a.account.public_id,
        to_account_number=b.account.account_number,
        payee_name="李娜",
        amount="1",
        currency="CNY",
    )
    state = AppState(settings=settings, db=db, clock=clock)
    refused = code(
        lambda: prepare_transfer(state=state, caller=caller, key="k" * 16, body=body)
    )
    assert refused == "public_edition"


def test_idempotent_prepare_and_confirm(
    db: Database, clock: FrozenClock, settings: Settings, people: tuple[Person, Person]
) -> None:
    a, b = people
    args = {
        "to": b.account.account_number,
        "payee_name": "李娜",
        "at": clock.now(),
        "settings": settings,
    }
    first = prepare(db, a, amount="7", key="prepare-key-1", **args)
    again = prepare(db, a, amount="7", key="prepare-key-1", **args)
    assert again == (first[0], first[1], True)
    assert code(lambda: prepare(db, a, amount="8", key="prepare-key-1", **args)) == (
        "idempotency_key_reused"
    )
    tid = first[1]["id"]
    done = confirm(db, a, tid, at=clock.now(), settings=settings, key="confirm-key-1")
    clock.advance(seconds=1000)  # even after expiry, a replay answers as the first time
    replay = confirm(db, a, tid, at=clock.now(), settings=settings, key="confirm-key-1")
    assert replay == (done[0], done[1], True)
    assert balances(db, a, b) == (9_993_00, 7_00)
    assert transfer_entries(db) == 1


def test_currency_of_payee_account_must_match(
    db: Database, clock: FrozenClock, settings: Settings, people: tuple[Person, Person]
) -> None:
    a, b = people
    usd = run_write(db, lambda s: make_account(s, b.customer, at=clock.now(), currency="USD"))
    refused = code(
        lambda: prepare(
            db,
            a,
            to=usd.account_number,
            payee_name="李娜",
            amount="1",
            at=clock.now(),
            settings=settings,
        )
    )
    assert refused == "currency_mismatch"
