"""Risk control at sign-up and cases (issue 7 §3, §5), on both databases: a blacklisted
applicant is refused with the neutral code and a case opens; officers take cases one at a
time (row lock), add notes and close them with an outcome."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import card_of, make_account, make_customer
from factories.transfers import latest_code
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.identity import service as identity
from wangyin.identity.models import Registration
from wangyin.risk import service as risk
from wangyin.risk.models import RiskCase
from wangyin.security.audit import Client
from wangyin.security.models import AuditRecord
from wangyin.uow import run_read, run_write

OFFICERS = 4


def _applicant(db: Database, clock: FrozenClock) -> dict[str, str]:
    def build(s: Session) -> dict[str, str]:
        c = make_customer(s, at=clock.now(), name="陈静")
        acct = make_account(s, c, at=clock.now(), with_card=True)
        return {
            "name": c.name,
            "id_number": c.id_number,
            "mobile": c.mobile,
            "card_number": card_of(s, acct).number,
            "username": "newuser01",
            "password": "Xin-Mima-2026",
            "transaction_password": "582936",
        }

    return run_write(db, build)


def _start(
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    form: dict[str, str],
    client: Client | None = None,
) -> str:
    try:
        run_write(
            db,
            lambda s: identity.start_registration(
                s, **form, at=clock.now(), settings=settings, client=client
            ),
        )
    except DomainError as refusal:
        return refusal.code
    return "started"


def _add(db: Database, clock: FrozenClock, kind: str, value: str, **kw: object) -> int:
    return run_write(
        db,
        lambda s: (
            risk.add_entry(
                s,
                kind=kind,
                value=value,
                reason="fraud ring",
                staff_id="officer",
                at=clock.now(),
                **kw,  # type: ignore[arg-type]
            ).id
        ),
    )


def _counts(db: Database) -> tuple[int, int, int]:
    def read(s: Session) -> tuple[int, int, int]:
        return (
            s.scalar(select(func.count()).select_from(RiskCase)) or 0,
            s.scalar(select(func.count()).select_from(Registration)) or 0,
            s.scalar(select(func.count()).where(AuditRecord.event == "blacklist_hit")) or 0,
        )

    return run_read(db, read)


@pytest.mark.parametrize("kind", ["person", "mobile", "card"])
def test_a_listed_applicant_is_refused_neutrally_and_a_case_opens(
    db: Database, clock: FrozenClock, settings: Settings, kind: str
) -> None:
    form = _applicant(db, clock)
    _add(
        db,
        clock,
        kind,
        form["id_number" if kind == "person" else f"{kind}_number" if kind == "card" else kind],
    )
    assert _start(db, clock, settings, form) == "card_not_found"  # as for any mismatch
    assert _counts(db) == (1, 0, 1)
    case = run_read(db, lambda s: s.scalars(select(RiskCase)).one())
    assert (case.kind, case.status, case.priority) == ("blacklist_hit", "open", 1)


def test_device_and_ip_range_hits_and_expiry(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    form = _applicant(db, clock)
    _add(db, clock, "ip_range", "10.9.0.0/16")
    device = _add(db, clock, "device", "dev-123")
    assert _start(db, clock, settings, form, Client(ip="10.9.3.4")) == "card_not_found"
    assert _start(db, clock, settings, form, Client(device_id="dev-123")) == "card_not_found"
    run_write(
        db,
        lambda s: risk.expire_entry(
            s, entry_id=device, reason="cleared", staff_id="o", at=clock.now()
        ),
    )
    assert _start(db, clock, settings, form, Client(device_id="dev-123")) == "started"
    assert _counts(db)[0] == 2


def test_an_expired_entry_and_clean_applicant_pass(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    form = _applicant(db, clock)
    _add(db, clock, "mobile", form["mobile"], expires_at=clock.now() - timedelta(days=1))
    _add(db, clock, "mobile", "13900000000")
    assert _start(db, clock, settings, form) == "started"
    code = run_read(db, lambda s: latest_code(s, form["mobile"]))
    assert code
    assert _counts(db) == (0, 1, 0)


def test_blacklist_values_are_stored_hashed(db: Database, clock: FrozenClock) -> None:
    _add(db, clock, "mobile", "13812345678")
    with db.engine.connect() as conn:
        dumped = " ".join(str(r) for r in conn.exec_driver_sql("SELECT * FROM risk_blacklist"))
    assert "13812345678" not in dumped


def _case(db: Database, clock: FrozenClock, priority: int = 1, age: int = 0) -> int:
    return run_write(
        db,
        lambda s: (
            risk.open_case(
                s,
                kind="blacklist_hit",
                customer_id=None,
                priority=priority,
                note="",
                at=clock.now() - timedelta(hours=age),
            ).id
        ),
    )


def test_cases_are_listed_by_priority_then_age_and_closed_with_an_outcome(
    db: Database, clock: FrozenClock
) -> None:
    young_urgent, old_low, old_urgent = (
        _case(db, clock, 1, 1),
        _case(db, clock, 2, 9),
        _case(db, clock, 1, 5),
    )
    order = run_read(db, lambda s: [c.id for c in risk.list_cases(s)])
    assert order == [old_urgent, young_urgent, old_low]
    at = clock.now()
    run_write(db, lambda s: risk.assign_case(s, case_id=old_urgent, staff_id="a", at=at))
    run_write(
        db, lambda s: risk.add_note(s, case_id=old_urgent, staff_id="a", note="called", at=at)
    )
    with pytest.raises(DomainError) as info:  # only the assignee closes
        run_write(
            db,
            lambda s: risk.close_case(
                s, case_id=old_urgent, staff_id="b", outcome="resolved", at=at
            ),
        )
    assert info.value.code == "case_not_yours"
    run_write(
        db,
        lambda s: risk.close_case(
            s, case_id=old_urgent, staff_id="a", outcome="false_positive", at=at
        ),
    )
    closed = run_read(db, lambda s: s.get(RiskCase, old_urgent))
    assert closed is not None and closed.outcome == "false_positive" and "called" in closed.notes
    assert run_read(db, lambda s: [c.id for c in risk.list_cases(s)]) == [young_urgent, old_low]


def test_two_officers_taking_one_case_at_once_one_wins(db: Database, clock: FrozenClock) -> None:
    case_id = _case(db, clock)
    barrier = threading.Barrier(OFFICERS)
    outcomes: list[str] = []

    def take(officer: str) -> None:
        barrier.wait(timeout=10)
        try:
            run_write(
                db, lambda s: risk.assign_case(s, case_id=case_id, staff_id=officer, at=clock.now())
            )
            outcomes.append("assigned")
        except DomainError as refusal:
            outcomes.append(refusal.code)

    threads = [threading.Thread(target=take, args=(f"officer{i}",)) for i in range(OFFICERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert Counter(outcomes) == {"assigned": 1, "case_taken": OFFICERS - 1}
    assigned = run_read(
        db, lambda s: s.scalar(select(func.count()).where(AuditRecord.event == "case_assigned"))
    )
    assert assigned == 1


def test_the_demo_seeds_entries_that_screen_and_open_cases(
    db: Database, clock: FrozenClock
) -> None:
    run_write(db, lambda s: risk.seed_demo(s, now=clock.now()))
    queue = run_read(db, lambda s: [(c.kind, c.priority) for c in risk.list_cases(s)])
    assert queue == [("blacklist_hit", 1), ("high_risk_signup", 2), ("complaint", 3)]
    run_write(db, lambda s: risk.seed_demo(s, now=clock.now()))  # not twice
    assert len(run_read(db, risk.list_cases)) == 3
    found = run_read(
        db,
        lambda s: risk.hits(s, values={"mobile": "13700000666"}, ip="203.0.113.9", at=clock.now()),
    )
    assert sorted(e.kind for e in found) == ["ip_range", "mobile"]
