"""The home page's preferences and suggestions on both databases (issue 9 §2): the eye
and the quick functions remembered per customer, changes decided under the row's lock
(never more than 8 pinned, even from several tabs at once), and the suggestions read
from the customer's own history with their reasons."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from factories import Person
from factories.transfers import pay
from integration.test_payees import _two
from integration.test_schedules import _give
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.home import preferences, service, suggestions
from wangyin.home.models import HomePreference
from wangyin.identity.models import User
from wangyin.payees import service as payees
from wangyin.schedules.models import ScheduledTransfer
from wangyin.security.audit import Client
from wangyin.uow import run_read, run_write


def _read(db: Database, who: Person) -> preferences.Preferences:
    return run_read(db, lambda s: preferences.read(s, customer_id=who.customer.id))


def _move(db: Database, who: Person, action: str, key: str, clock: FrozenClock) -> tuple[str, ...]:
    return run_write(
        db,
        lambda s: preferences.move(
            s, customer_id=who.customer.id, action=action, key=key, now=clock.now()
        ),
    ).quick


def test_the_eye_is_remembered_per_customer(db: Database, clock: FrozenClock) -> None:
    a, b = _two(db, clock)
    assert _read(db, a).amounts_hidden is False  # no row: amounts shown
    for hidden in (True, True, False, True):
        run_write(
            db,
            lambda s, h=hidden: preferences.set_amounts_hidden(
                s, customer_id=a.customer.id, hidden=h, now=clock.now()
            ),
        )
    assert _read(db, a).amounts_hidden is True
    assert _read(db, b).amounts_hidden is False  # another customer's choice is their own
    rows = run_read(db, lambda s: s.scalar(select(func.count()).select_from(HomePreference)))
    assert rows == 1  # one row per customer, however often they choose


def test_pin_unpin_and_reorder_are_kept_in_order(db: Database, clock: FrozenClock) -> None:
    a, b = _two(db, clock)
    assert _read(db, a).quick == preferences.QUICK_DEFAULTS and not _read(db, a).chosen
    assert _move(db, a, "pin", "log", clock)[-1] == "log"
    assert _move(db, a, "up", "log", clock)[-2:] == ("log", "security")
    first = preferences.QUICK_DEFAULTS[0]
    assert _move(db, a, "up", first, clock)[0] == first  # already first: stays
    assert _move(db, a, "down", first, clock)[:2] == (preferences.QUICK_DEFAULTS[1], first)
    assert "transfer" not in _move(db, a, "unpin", "transfer", clock)
    with pytest.raises(DomainError) as refused:
        _move(db, a, "unpin", "transfer", clock)
    assert refused.value.code == "function_not_pinned"
    with pytest.raises(DomainError) as refused:
        _move(db, a, "pin", "nosuch", clock)
    assert refused.value.code == "unknown_function"
    assert _read(db, a).chosen
    assert _read(db, b).quick == preferences.QUICK_DEFAULTS
    whole = ["payees", "accounts"]
    saved = run_write(
        db,
        lambda s: preferences.set_quick(s, customer_id=a.customer.id, keys=whole, now=clock.now()),
    )
    assert saved.quick == ("payees", "accounts")
    emptied = run_write(
        db, lambda s: preferences.set_quick(s, customer_id=a.customer.id, keys=[], now=clock.now())
    )
    assert emptied.quick == () and emptied.chosen  # an empty grid is a choice, not defaults


def test_never_more_than_eight_even_from_several_tabs_at_once(
    db: Database, clock: FrozenClock
) -> None:
    a, _ = _two(db, clock)
    extra = [e.key for e in preferences.pinnable() if e.key not in preferences.QUICK_DEFAULTS]
    assert len(preferences.QUICK_DEFAULTS) + len(extra) > preferences.QUICK_MAX
    errors: list[str] = []

    def pin(key: str) -> None:
        try:
            _move(db, a, "pin", key, clock)
        except DomainError as error:
            errors.append(error.code)

    threads = [threading.Thread(target=pin, args=(key,)) for key in extra]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    room = preferences.QUICK_MAX - len(preferences.QUICK_DEFAULTS)
    assert len(_read(db, a).quick) == preferences.QUICK_MAX
    assert errors == ["too_many_quick_functions"] * (len(extra) - room)


def _save_payee(db: Database, who: Person, payee: Person, clock: FrozenClock) -> None:
    run_write(
        db,
        lambda s: payees.add_payee(
            s,
            customer_id=who.customer.id,
            actor=who.user.public_id,
            name=payee.name,
            number=payee.account.account_number,
            nickname="",
            at=clock.now(),
            client=Client(ip="127.0.0.1", client_type="api"),
        ),
    )


def _suggested(db: Database, who: Person, clock: FrozenClock) -> list[suggestions.Suggestion]:
    def read(s: Session) -> list[suggestions.Suggestion]:
        ledger_ids = [who.account.ledger_account_id]
        return suggestions.suggestions(
            s,
            customer_id=who.customer.id,
            user_id=who.user.id,
            ledger_ids=ledger_ids,
            now=clock.now(),
        )

    return run_read(db, read)


def test_a_monthly_payee_is_suggested_as_a_scheduled_transfer_with_the_reason(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    a, b = _two(db, clock)
    start = clock.now()
    for month in range(3):
        pay(db, a, b, "100.00", at=start + timedelta(days=30 * month), settings=settings)
    clock.advance(days=61)
    # Not a saved payee: no name is shown, nothing suggested about them.
    assert {s.kind for s in _suggested(db, a, clock)} == {"security"}
    _save_payee(db, a, b, clock)
    found = _suggested(db, a, clock)
    schedule = next(s for s in found if s.kind == "schedule")
    assert schedule.params == {"name": "李娜"}
    assert schedule.why == "Because you transfer to {name} every month"
    assert schedule.url == "/transfer/schedules/new"
    # Once a schedule to the payee is given (pending, active or paused), not suggested.
    sid = _give(
        db,
        clock,
        settings,
        a,
        b,
        frequency="monthly",
        start=(clock.now() + timedelta(days=3)).date(),
    )
    assert "schedule" not in {s.kind for s in _suggested(db, a, clock)}
    run_write(
        db,
        lambda s: s.execute(
            update(ScheduledTransfer)
            .where(ScheduledTransfer.public_id == sid)
            .values(status="cancelled")
        ),
    )
    assert "schedule" in {s.kind for s in _suggested(db, a, clock)}
    # Paid twice in a week instead: "transfer again", with how often.
    clock.advance(days=200)
    pay(db, a, b, "5.00", at=clock.now(), settings=settings)
    pay(db, a, b, "6.00", at=clock.now() + timedelta(hours=1), settings=settings)
    clock.advance(days=2)
    again = next(s for s in _suggested(db, a, clock) if s.kind == "transfer_again")
    assert again.params == {"name": "李娜", "count": "2"}
    assert again.url.startswith("/transfer?payee=")


def test_security_features_never_set_up_are_suggested_until_they_are(
    db: Database, clock: FrozenClock
) -> None:
    a, _ = _two(db, clock)
    before = {s.url for s in _suggested(db, a, clock)}
    has_pin = run_read(db, lambda s: s.get(User, a.user.id).transaction_pin_hash)  # type: ignore[union-attr]
    assert ("/security/transaction-password" in before) == (not has_pin)
    assert "/security/limits" in before

    def lower(s: Session) -> None:
        user = s.get(User, a.user.id)
        assert user is not None
        user.daily_limit_minor = 1_000_00
        user.transaction_pin_hash = "set"

    run_write(db, lower)
    assert {s.url for s in _suggested(db, a, clock)} == set()


def test_recent_lines_newest_booking_first(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    a, b = _two(db, clock)
    start = clock.now()
    pay(db, a, b, "10.00", at=start + timedelta(days=10), settings=settings)
    pay(db, a, b, "5.00", at=start + timedelta(days=5), settings=settings)  # booked late
    clock.advance(days=11)
    data = run_read(
        db,
        lambda s: service.home(
            s, customer_id=a.customer.id, user_id=a.user.id, now=clock.now(), rates={"CNY": "1"}
        ),
    )
    assert [line.amount_minor for line in data.recent][:2] == [-10_00, -5_00]
