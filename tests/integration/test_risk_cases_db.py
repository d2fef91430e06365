"""Cases and the blacklist on both databases (issue 7 §3, §5): officers racing to take
and close one case (one wins, the others get a clear conflict), a listing's expiry by the
clock, a complaint's case and the officer's message to its customer."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

from sqlalchemy.orm import Session

from factories import make_customer
from wangyin.clock import FrozenClock
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.notify import service as notify
from wangyin.risk import complaints
from wangyin.risk import service as risk
from wangyin.uow import run_read, run_write

OFFICERS = 4


def test_officers_racing_on_one_case_one_closes_it(db: Database, clock: FrozenClock) -> None:
    case_id = run_write(
        db,
        lambda s: (
            risk.open_case(
                s, kind="blacklist_hit", customer_id=None, priority=1, note="", at=clock.now()
            ).id
        ),
    )
    barrier = threading.Barrier(OFFICERS)
    outcomes: list[str] = []

    def work(officer: str) -> None:
        barrier.wait(timeout=10)
        try:
            run_write(
                db, lambda s: risk.assign_case(s, case_id=case_id, staff_id=officer, at=clock.now())
            )
        except DomainError as refusal:
            outcomes.append(refusal.code)
        try:
            run_write(
                db,
                lambda s: risk.close_case(
                    s, case_id=case_id, staff_id=officer, outcome="resolved", at=clock.now()
                ),
            )
            outcomes.append("closed")
        except DomainError as refusal:
            outcomes.append(refusal.code)

    threads = [threading.Thread(target=work, args=(f"officer{i}",)) for i in range(OFFICERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    counted = Counter(outcomes)
    assert counted["closed"] == 1 and counted["case_taken"] == OFFICERS - 1
    # The losers' closes are refused: not theirs, or already closed.
    assert counted["case_not_yours"] + counted["case_closed"] == OFFICERS - 1


def test_an_expired_listing_stops_matching(db: Database, clock: FrozenClock) -> None:
    run_write(
        db,
        lambda s: risk.add_entry(
            s, kind="device", value="phone-7", reason="stolen", staff_id="r",
            at=clock.now(), expires_at=clock.now() + timedelta(days=1),
        ),
    )  # fmt: skip
    assert len(run_read(db, lambda s: risk.hits(s, values={"d": "phone-7"}, at=clock.now()))) == 1
    clock.advance(days=2)
    assert run_read(db, lambda s: risk.hits(s, values={"d": "phone-7"}, at=clock.now())) == []


def test_a_complaint_opens_a_case_and_the_officer_writes_to_its_customer(
    db: Database, clock: FrozenClock
) -> None:
    def file(s: Session) -> tuple[int, str]:
        customer = make_customer(s, at=clock.now(), mobile="13600007777")
        case = complaints.file_complaint(
            s,
            customer_id=customer.id,
            subject="卡被吞",
            text="ATM 吞卡",
            transfer_id=None,
            at=clock.now(),
        )
        return case.id, customer.mobile

    case_id, mobile = run_write(db, file)
    row = run_read(db, lambda s: risk.get_case(s, case_id=case_id))
    assert (row.kind, row.priority, row.status) == ("complaint", 3, "open")
    run_write(db, lambda s: risk.assign_case(s, case_id=case_id, staff_id="o1", at=clock.now()))
    try:
        run_write(
            db,
            lambda s: complaints.contact_customer(
                s, case_id=case_id, staff_id="o2", text="hello", at=clock.now()
            ),
        )
        raise AssertionError("another officer wrote on a case not theirs")
    except DomainError as refusal:
        assert refusal.code == "case_not_yours"
    run_write(
        db,
        lambda s: complaints.contact_customer(
            s, case_id=case_id, staff_id="o1", text="已补发新卡", at=clock.now()
        ),
    )
    assert [m.sender for m in run_read(db, lambda s: complaints.messages(s, case_id=case_id))] == [
        "customer",
        "bank",
    ]
    sms = run_read(db, lambda s: [notify.body_of(m) for m in notify.messages_to(s, phone=mobile)])
    assert len(sms) == 1 and "已补发新卡" not in sms[0]  # the SMS only points to the site


def test_an_ended_entry_is_not_ended_twice(db: Database, clock: FrozenClock) -> None:
    entry_id = run_write(
        db,
        lambda s: (
            risk.add_entry(
                s, kind="mobile", value="13700001234", reason="r", staff_id="r", at=clock.now()
            ).id
        ),
    )
    run_write(
        db,
        lambda s: risk.expire_entry(
            s, entry_id=entry_id, reason="done", staff_id="r", at=clock.now()
        ),
    )
    try:
        run_write(
            db,
            lambda s: risk.expire_entry(
                s, entry_id=entry_id, reason="again", staff_id="r", at=clock.now()
            ),
        )
        raise AssertionError("ended twice")
    except DomainError as refusal:
        assert refusal.code == "blacklist_entry_expired"


def test_a_case_about_no_customer_cannot_contact_one(db: Database, clock: FrozenClock) -> None:
    case_id = run_write(
        db,
        lambda s: (
            risk.open_case(
                s, kind="blacklist_hit", customer_id=None, priority=1, note="", at=clock.now()
            ).id
        ),
    )
    run_write(db, lambda s: risk.assign_case(s, case_id=case_id, staff_id="o1", at=clock.now()))
    try:
        run_write(
            db,
            lambda s: complaints.contact_customer(
                s, case_id=case_id, staff_id="o1", text="hello", at=clock.now()
            ),
        )
        raise AssertionError("wrote to nobody")
    except DomainError as refusal:
        assert refusal.code == "case_has_no_customer"
