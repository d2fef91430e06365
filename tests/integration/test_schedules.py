"""Scheduled and recurring transfers (issue 6 §4), on SQLite and PostgreSQL: confirmed once
with both factors bound to the instruction, made by the worker as the clock moves, each run
exactly once (two workers at once included), insufficient funds retried hourly until the
bank day ends, a freeze since fails the run clearly, pause / resume / edit / cancel."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from factories import Person, make_person
from factories.bank import DEFAULT_PIN, balance, fund
from factories.transfers import latest_code
from wangyin.clock import BANK_TZ, FrozenClock, as_utc
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.identity.models import User
from wangyin.ledger import service as ledger
from wangyin.notify import service as notify
from wangyin.payments import service as payments
from wangyin.payments.models import COMPLETED, TransferRequest
from wangyin.schedules import service as schedules
from wangyin.schedules import tasks
from wangyin.schedules.models import ScheduledRun
from wangyin.security.audit import Client
from wangyin.uow import run_read, run_write


def _people(
    db: Database, clock: FrozenClock, payer_minor: int = 10_000_00
) -> tuple[Person, Person]:
    def build(s: Session) -> tuple[Person, Person]:
        return (
            make_person(s, at=clock.now(), name="张伟", balance_minor=payer_minor),
            make_person(s, at=clock.now(), name="李娜", balance_minor=0),
        )

    return run_write(db, build)


def _local(day: date, hhmm: str = "09:00") -> datetime:
    return as_utc(datetime.combine(day, datetime.strptime(hhmm, "%H:%M").time(), BANK_TZ))


def _give(
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    a: Person,
    b: Person,
    *,
    amount: str = "100.00",
    frequency: str = "once",
    start: date,
    hhmm: str = "09:00",
    end_date: str | None = None,
    max_runs: int | None = None,
    replaces: str | None = None,
) -> str:
    def action(s: Session) -> str:
        plan = schedules.parse_plan(
            frequency=frequency,
            start_date=start.isoformat(),
            start_time=hhmm,
            end_date=end_date,
            max_runs=max_runs,
            at=clock.now(),
        )
        return schedules.give(
            s,
            customer_id=a.customer.id,
            user_id=a.user.id,
            actor=a.user.public_id,
            from_account_id=a.account.public_id,
            to_account_number=b.account.account_number,
            payee_name=b.name,
            amount=amount,
            remark="房租",
            plan=plan,
            at=clock.now(),
            settings=settings,
            client=Client(),
            replaces=replaces,
        ).public_id

    return run_write(db, action)


def _code(db: Database, clock: FrozenClock, settings: Settings, a: Person, sid: str) -> str:
    def action(s: Session) -> str:
        schedules.send_code(
            s,
            customer_id=a.customer.id,
            schedule_id=sid,
            channel="sms",
            client=Client(),
            at=clock.now(),
            settings=settings,
        )
        return latest_code(s, a.customer.mobile)

    return run_write(db, action)


def _confirm(
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    a: Person,
    sid: str,
    code: str,
    pin: str = DEFAULT_PIN,
) -> str:
    def action(s: Session) -> str:
        return schedules.confirm(
            s,
            customer_id=a.customer.id,
            actor=a.user.public_id,
            schedule_id=sid,
            key_digest=None,
            transaction_password=pin,
            code=code,
            at=clock.now(),
            settings=settings,
            client=Client(),
        ).status

    return run_write(db, action)


def _set_up(
    db: Database, clock: FrozenClock, settings: Settings, a: Person, b: Person, **kw: Any
) -> str:
    sid = _give(db, clock, settings, a, b, **kw)
    assert _confirm(db, clock, settings, a, sid, _code(db, clock, settings, a, sid)) == "active"
    return sid


def _view(db: Database, settings: Settings, a: Person, sid: str) -> dict[str, Any]:
    return run_read(
        db,
        lambda s: schedules.view(
            s,
            schedules.get(s, customer_id=a.customer.id, schedule_id=sid),
            lang="en",
            settings=settings,
            with_runs=True,
        ),
    )


def _texts(db: Database, person: Person) -> list[str]:
    return run_read(
        db,
        lambda s: [
            notify.body_of(m)
            for m in notify.messages_to(s, phone=person.customer.mobile, limit=50)
            if m.purpose == "schedule_result"
        ],
    )


TOMORROW = date(2026, 3, 3)  # T0 is Monday 2026-03-02 10:00 in Shanghai


def test_a_monthly_transfer_runs_on_its_days_until_its_count(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    a, b = _people(db, clock)
    sid = _set_up(
        db, clock, settings, a, b, frequency="monthly", start=date(2026, 3, 31), max_runs=3
    )
    clock.set(_local(date(2026, 3, 30)))
    assert tasks.run_due(db, settings, at=clock.now()) == 0  # nothing before its time
    for day in (date(2026, 3, 31), date(2026, 4, 30), date(2026, 5, 31)):  # April has 30
        clock.set(_local(day, "09:00") + timedelta(minutes=1))
        assert tasks.run_due(db, settings, at=clock.now()) == 1
        assert tasks.run_due(db, settings, at=clock.now()) == 0  # made once
    view = _view(db, settings, a, sid)
    assert view["status"] == "finished"
    assert [r["status"] for r in view["runs"]] == ["completed"] * 3
    assert [r["due_at"][:10] for r in reversed(view["runs"])] == [
        "2026-03-31",
        "2026-04-30",
        "2026-05-31",
    ]
    assert run_read(db, lambda s: balance(s, b.account)) == 300_00
    assert len(_texts(db, a)) == 3
    assert "was made" in _texts(db, a)[0] or "成功" in _texts(db, a)[0]
    transfers = run_read(
        db,
        lambda s: s.scalars(
            select(TransferRequest.confirmed_with).where(TransferRequest.status == COMPLETED)
        ).all(),
    )
    assert transfers == ["scheduled"] * 3
    assert run_read(db, ledger.verify).ok


def test_the_code_is_bound_to_the_instruction_and_wrong_tries_count(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    a, b = _people(db, clock)
    first = _give(db, clock, settings, a, b, start=TOMORROW)
    second = _give(db, clock, settings, a, b, start=TOMORROW, amount="999.00")
    code = _code(db, clock, settings, a, first)
    with pytest.raises(DomainError) as refused:
        _confirm(db, clock, settings, a, second, code)  # another instruction's code
    assert refused.value.code in ("otp_invalid", "second_factor_invalid")
    with pytest.raises(DomainError) as wrong_pin:
        _confirm(db, clock, settings, a, first, code, pin="000000")
    assert wrong_pin.value.code == "second_factor_invalid"
    failed = run_read(db, lambda s: s.get_one(User, a.user.id).failed_pins)
    assert failed == 1  # counted, although the transaction refused
    # A pending instruction never runs, and expires.
    clock.set(_local(TOMORROW) + timedelta(minutes=1))
    assert tasks.run_due(db, settings, at=clock.now()) == 0
    with pytest.raises(DomainError) as late:
        _confirm(db, clock, settings, a, first, code)
    assert late.value.code == "schedule_expired"


def test_insufficient_funds_is_retried_hourly_then_fails_at_the_end_of_the_bank_day(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    a, b = _people(db, clock, payer_minor=50_00)
    sid = _set_up(db, clock, settings, a, b, start=TOMORROW, hhmm="21:30")
    clock.set(_local(TOMORROW, "21:30"))
    assert tasks.run_due(db, settings, at=clock.now()) == 1
    run = _view(db, settings, a, sid)["runs"][0]
    assert (run["status"], run["reason"]) == ("retrying", "insufficient_funds")
    clock.advance(minutes=30)
    assert tasks.run_due(db, settings, at=clock.now()) == 0  # not before the hour
    clock.advance(minutes=30)  # 22:30, 23:30: still the same bank day
    assert tasks.run_due(db, settings, at=clock.now()) == 1
    clock.advance(hours=1)
    assert tasks.run_due(db, settings, at=clock.now()) == 1
    run = _view(db, settings, a, sid)["runs"][0]
    assert (run["status"], run["attempts"]) == ("failed", 3)
    assert run["reason"] == "insufficient_funds"
    assert "balance" in run["reason_text"].lower()
    assert run_read(db, lambda s: balance(s, b.account)) == 0
    texts = _texts(db, a)
    assert len(texts) == 1
    assert "could not be made" in texts[0] or "未能" in texts[0]
    # A refused run leaves no transfer anyone could confirm later.
    pending = run_read(
        db,
        lambda s: s.scalar(
            select(func.count(TransferRequest.id)).where(TransferRequest.status == payments.PENDING)
        ),
    )
    assert pending == 0


def test_money_that_arrives_before_a_retry_is_used(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    a, b = _people(db, clock, payer_minor=50_00)
    sid = _set_up(db, clock, settings, a, b, start=TOMORROW)
    clock.set(_local(TOMORROW))
    tasks.run_due(db, settings, at=clock.now())
    run_write(db, lambda s: fund(s, s.merge(a.account), 100_00, at=clock.now()))
    clock.advance(hours=1)
    assert tasks.run_due(db, settings, at=clock.now()) == 1
    assert _view(db, settings, a, sid)["runs"][0]["status"] == "completed"
    assert run_read(db, lambda s: balance(s, b.account)) == 100_00


def test_a_freeze_since_the_instruction_fails_the_run_clearly(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    a, b = _people(db, clock)
    sid = _set_up(db, clock, settings, a, b, start=TOMORROW)
    run_write(
        db, lambda s: s.execute(update(User).where(User.id == a.user.id).values(freeze="transfers"))
    )
    clock.set(_local(TOMORROW))
    assert tasks.run_due(db, settings, at=clock.now()) == 1
    run = _view(db, settings, a, sid)["runs"][0]
    assert (run["status"], run["reason"]) == ("failed", "transfers_frozen")
    assert run_read(db, lambda s: balance(s, b.account)) == 0
    assert "frozen" in _texts(db, a)[0].lower() or "冻结" in _texts(db, a)[0]


def test_pause_resume_edit_and_cancel(db: Database, clock: FrozenClock, settings: Settings) -> None:
    a, b = _people(db, clock)
    sid = _set_up(db, clock, settings, a, b, frequency="weekly", start=TOMORROW, max_runs=10)

    def change(action: str, schedule_id: str = sid) -> str:
        return run_write(
            db,
            lambda s: (
                schedules.change_state(
                    s,
                    customer_id=a.customer.id,
                    actor=a.user.public_id,
                    schedule_id=schedule_id,
                    action=action,
                    at=clock.now(),
                    client=Client(),
                ).status
            ),
        )

    assert change("pause") == "paused"
    clock.set(_local(TOMORROW) + timedelta(hours=1))
    assert tasks.run_due(db, settings, at=clock.now()) == 0  # paused: not made
    assert change("resume") == "active"
    assert _view(db, settings, a, sid)["next_run_at"][:10] == "2026-03-10"  # the week after
    with pytest.raises(DomainError) as twice:
        change("resume")
    assert twice.value.code == "schedule_not_paused"

    # An edit is a new instruction, confirmed anew; the old one runs until then.
    new = _give(
        db,
        clock,
        settings,
        a,
        b,
        frequency="weekly",
        start=date(2026, 3, 11),
        amount="200.00",
        replaces=sid,
    )
    assert _view(db, settings, a, sid)["status"] == "active"
    assert _confirm(db, clock, settings, a, new, _code(db, clock, settings, a, new)) == "active"
    assert _view(db, settings, a, sid)["status"] == "replaced"
    assert _view(db, settings, a, new)["replaces"] == sid
    clock.set(_local(date(2026, 3, 11)))
    assert tasks.run_due(db, settings, at=clock.now()) == 1  # only the new one
    assert run_read(db, lambda s: balance(s, b.account)) == 200_00

    assert change("cancel", new) == "cancelled"
    clock.set(_local(date(2026, 3, 18)))
    assert tasks.run_due(db, settings, at=clock.now()) == 0
    with pytest.raises(DomainError) as closed:
        change("resume", new)
    assert closed.value.code == "schedule_not_paused"


def test_bad_schedules_are_refused(db: Database, clock: FrozenClock, settings: Settings) -> None:
    a, b = _people(db, clock)
    for kwargs, code in (
        ({"start": date(2026, 3, 1)}, "schedule_time_invalid"),  # the past
        ({"start": date(2028, 3, 1)}, "schedule_time_invalid"),  # over a year ahead
        (
            {"frequency": "weekly", "start": TOMORROW, "end_date": "2026-03-01"},
            "schedule_end_invalid",
        ),
        ({"start": TOMORROW, "amount": "0"}, "amount_not_positive"),
    ):
        with pytest.raises(DomainError) as refused:
            _give(db, clock, settings, a, b, **kwargs)  # type: ignore[arg-type]
        assert refused.value.code == code


def test_a_crash_mid_run_pays_once_on_retry(
    db: Database, clock: FrozenClock, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _people(db, clock)
    sid = _set_up(db, clock, settings, a, b, start=TOMORROW)
    clock.set(_local(TOMORROW))
    real = payments.confirm

    def crash(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise RuntimeError("the worker died before its commit")

    monkeypatch.setattr(payments, "confirm", crash)
    with pytest.raises(RuntimeError):
        tasks.run_due(db, settings, at=clock.now())
    monkeypatch.setattr(payments, "confirm", real)
    assert run_read(db, lambda s: balance(s, b.account)) == 0  # rolled back whole
    assert tasks.run_due(db, settings, at=clock.now()) == 1
    assert tasks.run_due(db, settings, at=clock.now()) == 0
    assert run_read(db, lambda s: balance(s, b.account)) == 100_00
    assert _view(db, settings, a, sid)["runs"][0]["status"] == "completed"


def test_two_workers_make_each_due_run_exactly_once(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    payers = []
    payee = run_write(db, lambda s: make_person(s, at=clock.now(), name="李娜", balance_minor=0))
    for _ in range(6):
        payer = run_write(db, lambda s: make_person(s, at=clock.now(), name="张伟"))
        _set_up(db, clock, settings, payer, payee, start=TOMORROW, amount="10.00")
        _set_up(db, clock, settings, payer, payee, start=TOMORROW, amount="1.00", hhmm="09:05")
        payers.append(payer)
    clock.set(_local(TOMORROW, "10:00"))
    handled: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            handled.append(tasks.run_due(db, settings, at=clock.now()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sum(handled) == 12
    runs = run_read(db, lambda s: s.scalars(select(ScheduledRun.status)).all())
    assert sorted(runs) == ["completed"] * 12
    assert run_read(db, lambda s: balance(s, payee.account)) == 6 * 11_00
    completed = run_read(
        db,
        lambda s: s.scalar(
            select(func.count(TransferRequest.id)).where(TransferRequest.status == COMPLETED)
        ),
    )
    assert completed == 12
    assert run_read(db, ledger.verify).ok
