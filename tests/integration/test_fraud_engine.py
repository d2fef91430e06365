"""The anti-fraud engine on the real transfer path, on SQLite and PostgreSQL (issue 7 §4):
a stolen-credentials transfer is held and posts nothing; two officers releasing one hold
at the same moment post it once; the counters kept per account drive velocity, mule and
structuring without scanning history; a new rule-set version approved through the
back office's maker-checker is what the next transfer uses."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import make_person
from factories.bank import balance
from factories.transfers import confirm, pay, prepare
from wangyin.backoffice import service as backoffice
from wangyin.backoffice.models import StaffUser
from wangyin.backoffice.service import CurrentStaff
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.fraud import actions, engine
from wangyin.fraud import commands as _commands  # noqa: F401 - registers fraud_rules
from wangyin.fraud.models import FraudCounters, FraudEvent, FraudHold
from wangyin.identity.models import Device
from wangyin.ids import new_public_id
from wangyin.ledger.models import JournalEntry
from wangyin.payments import service as payments
from wangyin.payments.models import TransferRequest
from wangyin.security.audit import Client
from wangyin.uow import run_read, run_write
from wangyin.verify import verify_all

SETTINGS = Settings(database_url="sqlite://")
NIGHT = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)  # 03:00 Beijing; the devices bound at T0
OFFICERS = 4


def _staff(s: Session, username: str, role: str, at: datetime) -> CurrentStaff:
    member = StaffUser(
        public_id=new_public_id(),
        username=username,
        name=username,
        role=role,
        status="active",
        password_hash="-",
        totp_last_step=0,
        failed_logins=0,
        created_at=at,
    )
    s.add(member)
    s.flush()
    return CurrentStaff(
        staff_id=member.id,
        public_id=member.public_id,
        username=username,
        name=username,
        role=role,
        session_id=0,
        csrf_token="",
        touch_due=False,
    )


def _held(db: Database, clock: FrozenClock) -> tuple[str, object, object]:
    """A large first payment at 03:00 from a customer whose phone was bound hours ago."""
    people = run_write(
        db,
        lambda s: (
            make_person(s, at=clock.now(), balance_minor=20_000_00),
            make_person(s, at=clock.now(), balance_minor=0),
        ),
    )
    payer, payee = people
    clock.set(NIGHT)
    _, prepared, _ = prepare(
        db,
        payer,
        to=payee.account.account_number,
        payee_name=payee.name,
        amount="8000.00",
        at=clock.now(),
        settings=SETTINGS,
    )
    _, confirmed, _ = confirm(db, payer, prepared["id"], at=clock.now(), settings=SETTINGS)
    assert confirmed["status"] == "HELD"
    return prepared["id"], payer, payee


def test_a_held_transfer_posts_nothing(db: Database, clock: FrozenClock) -> None:
    tid, payer, payee = _held(db, clock)

    def check(s: Session) -> None:
        assert balance(s, payer.account) == 20_000_00  # type: ignore[attr-defined]
        assert balance(s, payee.account) == 0  # type: ignore[attr-defined]
        hold = s.scalars(select(FraudHold).where(FraudHold.transfer_id == tid)).one()
        assert hold.status == "HELD" and hold.case_id is not None
        assert set(hold.hits.split(",")) == {"new_device", "odd_hour", "new_payee_large"}
        row = s.scalars(select(TransferRequest).where(TransferRequest.public_id == tid)).one()
        assert row.status == "HELD" and row.journal_entry_id is None
        # Held: nothing counted on the accounts (the money did not move).
        assert s.get(FraudCounters, row.from_account_id) is None

    run_read(db, check)


def test_two_officers_releasing_at_once_post_it_once(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    tid, payer, payee = _held(db, clock)
    officers = run_write(
        db, lambda s: [_staff(s, f"risk{i}", "risk_officer", clock.now()) for i in range(OFFICERS)]
    )
    barrier = threading.Barrier(OFFICERS)
    outcomes: list[str] = []

    def release(officer: CurrentStaff) -> None:
        barrier.wait(timeout=10)
        try:
            run_write(
                db,
                lambda s: actions.release_in(
                    s,
                    transfer_id=tid,
                    staff_id=officer.public_id,
                    reason="called the customer",
                    client=Client(),
                    at=clock.now(),
                    settings=SETTINGS,
                ),
            )
            outcomes.append("released")
        except DomainError as refusal:
            outcomes.append(refusal.code)

    threads = [threading.Thread(target=release, args=(o,)) for o in officers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["hold_not_pending"] * (OFFICERS - 1) + ["released"]

    def check(s: Session) -> None:
        entries = s.scalar(
            select(func.count(JournalEntry.id)).where(
                JournalEntry.idempotency_key == f"transfer:{tid}"
            )
        )
        assert entries == 1
        assert balance(s, payer.account) == 12_000_00  # type: ignore[attr-defined]
        assert balance(s, payee.account) == 8_000_00  # type: ignore[attr-defined]
        row = s.scalars(select(TransferRequest).where(TransferRequest.public_id == tid)).one()
        assert row.status == "COMPLETED" and row.confirmed_with == "fraud_release"
        # Posted: counted on both accounts now.
        mine = s.get_one(FraudCounters, row.from_account_id)
        assert mine.out_day_count == 1 and mine.out_day_sum == 8_000_00
        assert s.get_one(FraudCounters, row.to_account_id).in_payers == str(row.from_account_id)

    run_read(db, check)
    # `wangyin verify`: balances from postings, entries, transfers and chains all agree.
    assert verify_all(db, checkpoint=tmp_path / "heads").problems == []


def test_counters_drive_velocity_and_mule(db: Database, clock: FrozenClock) -> None:
    """Five payers into one account in a day: the fifth is held (mule). Counted under the
    ledger locks, read back by the next transfer: no history scanned."""
    at = clock.now() + timedelta(days=5)  # daytime, devices no longer new
    clock.set(at)
    payee = run_write(db, lambda s: make_person(s, at=at - timedelta(days=5), balance_minor=0))
    payers = run_write(
        db,
        lambda s: [
            make_person(s, at=at - timedelta(days=5), balance_minor=1_000_00) for _ in range(5)
        ],
    )
    statuses = [
        pay(db, p, payee, "10.00", at=clock.now(), settings=SETTINGS)["status"] for p in payers
    ]
    assert statuses == ["COMPLETED"] * 4 + ["HELD"]
    events = run_read(db, lambda s: list(s.scalars(select(FraudEvent))))
    assert any("mule" in e.hits and e.decision == "hold" for e in events)
    # Velocity: the sixth transfer in an hour from one account steps up, the rule says so.
    one = payers[0]
    for _ in range(4):
        assert pay(db, one, payee, "1.00", at=clock.now(), settings=SETTINGS)["status"] in (
            "COMPLETED",
            "HELD",
        )
    counters = run_read(db, lambda s: s.get_one(FraudCounters, one.account.id))
    assert counters.out_hour_count == 5 and counters.out_day_count == 5


def test_an_approved_rule_set_is_the_next_transfers(db: Database, clock: FrozenClock) -> None:
    """Maker-checker: a risk officer proposes, a supervisor approves; the version changes
    and the engine reads it with the transfer (its cache keyed by version)."""
    at = clock.now()

    def propose(s: Session) -> tuple[str, CurrentStaff]:
        maker = _staff(s, "risk", "risk_officer", at)
        checker = _staff(s, "boss", "supervisor", at)
        command = backoffice.propose(
            s,
            customer_id=None,
            kind="fraud_rules",
            payload={"params": {"new_payee_large": {"amount": 100_00, "points": 90}}},
            reason="fraud wave on small payments",
            staff=maker,
            client=Client(),
            at=at,
            settings=SETTINGS,
        )
        # Nobody approves their own.
        try:
            backoffice.approve(
                s,
                command_id=command.public_id,
                reason="mine",
                staff=maker,
                client=Client(),
                at=at,
                settings=SETTINGS,
            )
        except DomainError as refusal:
            assert refusal.code in ("own_command", "staff_forbidden")
        else:
            raise AssertionError("the maker approved their own rules")
        return command.public_id, checker

    command_id, checker = run_write(db, propose)
    assert run_read(db, lambda s: engine.rules_of(s, None))["new_payee_large"]["amount"] == 5_000_00
    run_write(
        db,
        lambda s: backoffice.approve(
            s,
            command_id=command_id,
            reason="agreed",
            staff=checker,
            client=Client(),
            at=at,
            settings=SETTINGS,
        ),
    )
    from wangyin.fraud import service

    assert run_read(db, service.active_version) == 1
    payer, payee = run_write(
        db,
        lambda s: (make_person(s, at=at, balance_minor=1_000_00), make_person(s, at=at)),
    )
    # 200.00 to a new payee is now "large" and alone worth a hold (90 points).
    assert pay(db, payer, payee, "200.00", at=at, settings=SETTINGS)["status"] == "HELD"

    # A rule set that names an unknown rule is refused when proposed.
    def bad(s: Session) -> None:
        maker = _staff(s, "risk2", "risk_officer", at)
        backoffice.propose(
            s,
            customer_id=None,
            kind="fraud_rules",
            payload={"params": {"nope": {}}},
            reason="typo here",
            staff=maker,
            client=Client(),
            at=at,
            settings=SETTINGS,
        )

    try:
        run_write(db, bad)
    except DomainError as refusal:
        assert refusal.code == "rules_invalid"
    else:
        raise AssertionError("an unknown rule was accepted")


def test_the_worker_trains_a_model_and_the_engine_scores_with_it(
    db: Database, clock: FrozenClock
) -> None:
    """Too little history: no model, no score. After the job: a version stored as JSON
    arrays, and the next transfer carries a score (the anomaly rule's input)."""
    from wangyin.fraud import model, tasks
    from wangyin.fraud.models import FraudModel

    payer, payee = run_write(
        db,
        lambda s: (
            make_person(s, at=clock.now(), balance_minor=100_000_00),
            make_person(s, at=clock.now()),
        ),
    )
    for index in range(model.MIN_HISTORY):
        clock.advance(hours=5)
        amount = f"{100 + index}.00"
        assert pay(db, payer, payee, amount, at=clock.now(), settings=SETTINGS)["status"] == (
            "COMPLETED"
        )
    assert tasks.train_models(db, SETTINGS, at=clock.now()) == 1
    # Trained once: not again until a day has passed and there is new history.
    assert tasks.train_models(db, SETTINGS, at=clock.now()) == 0
    stored = run_read(db, lambda s: s.scalars(select(FraudModel)).one())
    assert stored.version == 1 and stored.samples == model.MIN_HISTORY
    assert stored.trees.startswith("{")  # JSON, never a pickle
    clock.advance(hours=1)
    pay(db, payer, payee, "150.00", at=clock.now(), settings=SETTINGS)
    events = run_read(
        db,
        lambda s: list(
            s.scalars(select(FraudEvent).where(FraudEvent.customer_id == payer.customer.id))
        ),
    )
    assert events and events[-1].score is not None


def test_step_up_asks_the_code_even_for_a_password_free_amount(
    db: Database, clock: FrozenClock
) -> None:
    """New device + 03:00 (50 points): a step-up. A 50.00 payment that would go without
    password and code must carry both; with them it is made."""
    from sqlalchemy import update

    from wangyin.identity.models import User

    payer, payee = run_write(
        db,
        lambda s: (
            make_person(s, at=clock.now(), balance_minor=1_000_00),
            make_person(s, at=clock.now()),
        ),
    )
    run_write(
        db,
        lambda s: s.execute(
            update(User)
            .where(User.id == payer.user.id)
            .values(password_free_single_minor=100_00, password_free_daily_minor=500_00)
        ),
    )
    # By day, an old device: password-free as usual.
    clock.advance(days=4)
    assert pay(db, payer, payee, "50.00", at=clock.now(), settings=SETTINGS)["status"] == (
        "COMPLETED"
    )
    # At 03:00 with a phone bound an hour ago: the password and the code are asked for.
    clock.set(NIGHT + timedelta(days=4))
    run_write(
        db,
        lambda s: s.execute(
            update(Device)
            .where(Device.user_id == payer.user.id)
            .values(bound_at=clock.now() - timedelta(hours=1))
        ),
    )
    _, prepared, _ = prepare(
        db,
        payer,
        to=payee.account.account_number,
        payee_name=payee.name,
        amount="50.00",
        at=clock.now(),
        settings=SETTINGS,
    )
    assert prepared["second_factor_required"] is False  # prepare does not know yet

    def without_factors(s: Session) -> None:
        payments.confirm(
            s,
            customer_id=payer.customer.id,
            transfer_id=prepared["id"],
            key_digest=None,
            at=clock.now(),
            settings=SETTINGS,
        )

    try:
        run_write(db, without_factors)
    except DomainError as refusal:
        assert refusal.code == "transaction_password_required"
    else:
        raise AssertionError("a step-up went through without the second factor")

    def with_factors(s: Session) -> str:
        pin, code = second_factor_for(s, payer, prepared["id"], clock.now())
        return payments.confirm(
            s,
            customer_id=payer.customer.id,
            transfer_id=prepared["id"],
            key_digest=None,
            at=clock.now(),
            settings=SETTINGS,
            transaction_password=pin,
            code=code,
        ).status

    assert run_write(db, with_factors) == "COMPLETED"


def second_factor_for(s: Session, payer: object, transfer_id: str, at: datetime) -> tuple[str, str]:
    """The PIN and a code texted for this transfer (password-free or not)."""
    from factories.bank import DEFAULT_PIN
    from factories.transfers import latest_code

    payments.send_code(
        s,
        customer_id=payer.customer.id,
        transfer_id=transfer_id,
        channel="sms",  # type: ignore[attr-defined]
        client=Client(),
        at=at,
        settings=SETTINGS,
    )
    return DEFAULT_PIN, latest_code(s, payer.customer.mobile)  # type: ignore[attr-defined]
