"""Reversals (冲正) and refund requests (退汇申请) from a risk case, on SQLite and
PostgreSQL (issue 7 §5): maker-checker through the back office's pipeline; a reversal
posts once even when two supervisors approve at once; the payee's missing funds refuse it
with nothing moved; `verify` stays clean; a recall of a settled inter-bank transfer ends
RETURNED and credits the payer once after the clearing worker's follow."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import Person, available, make_person
from factories.staff import make_staff
from factories.transfers import pay
from integration.test_clearing import CMB, Net, net  # noqa: F401 - the inter-bank fixture
from wangyin.backoffice import service as backoffice
from wangyin.backoffice.models import Command
from wangyin.backoffice.service import CurrentStaff
from wangyin.clearing.models import SimulatedAccount
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.gateways.clearing import RECALLED, Item
from wangyin.gateways.clearing.simulator import CnapsSimulator, add_account
from wangyin.ledger import service as ledger
from wangyin.ledger.models import JournalEntry
from wangyin.notify import service as notify
from wangyin.payments import service as payments
from wangyin.payments.models import TransferRequest
from wangyin.reversals import commands, service, tasks
from wangyin.reversals.models import InterbankRecall, TransferReversal
from wangyin.risk import service as risk
from wangyin.risk.models import RiskCase
from wangyin.security.audit import Client, verify_chain
from wangyin.uow import run_read, run_write


@dataclass
class Desk:
    """A case about a customer, its officer (the maker) and two supervisors."""

    db: Database
    clock: FrozenClock
    settings: Settings
    case_id: int
    customer_public_id: str
    officer: CurrentStaff
    supervisors: list[CurrentStaff]

    def propose(
        self, kind: str, transfer_id: str, reason: str = "mule account, police notice"
    ) -> str:
        now = self.clock.now()
        return run_write(
            self.db,
            lambda s: service.propose_from_case(
                s, case_id=self.case_id, kind=kind, transfer_id=transfer_id, reason=reason,
                staff=self.officer, client=Client(), at=now, settings=self.settings,
            ).public_id,
        )  # fmt: skip

    def approve(self, command_id: str, checker: CurrentStaff | None = None) -> None:
        now = self.clock.now()
        run_write(
            self.db,
            lambda s: backoffice.approve(
                s, command_id=command_id, reason="checked with the case",
                staff=checker or self.supervisors[0], client=Client(), at=now,
                settings=self.settings,
            ),
        )  # fmt: skip


def _desk(db: Database, clock: FrozenClock, settings: Settings, customer: Person) -> Desk:
    at = clock.now()

    def setup(s: Session) -> Desk:
        case = risk.open_case(
            s, kind="complaint", customer_id=customer.customer.id, priority=2, note="", at=at
        )
        officer = make_staff(s, f"risk{case.id}", "risk_officer", at=at)
        supervisors = [make_staff(s, f"sup{case.id}-{i}", "supervisor", at=at) for i in range(2)]
        risk.assign_case(s, case_id=case.id, staff_id=officer.public_id, at=at)
        return Desk(db, clock, settings, case.id, customer.customer.public_id, officer, supervisors)

    return run_write(db, setup)


def _balances(db: Database, *people: Person) -> list[int]:
    return run_read(db, lambda s: [available(s, p.account) for p in people])


def _problems(db: Database, now: datetime) -> list[str]:
    def check(s: Session) -> list[str]:
        report = ledger.verify(s)
        report.merge(payments.verify(s))
        report.merge(service.verify(s))
        return report.problems + verify_chain(s)

    return run_read(db, check)


def _sms(db: Database, phone: str) -> list[str]:
    return run_read(db, lambda s: [notify.body_of(m) for m in notify.messages_to(s, phone=phone)])


@pytest.fixture
def parties(db: Database, clock: FrozenClock) -> tuple[Person, Person]:
    return run_write(
        db,
        lambda s: (
            make_person(s, at=clock.now(), balance_minor=1_000_00),
            make_person(s, at=clock.now(), balance_minor=0),
        ),
    )


def test_two_supervisors_approving_at_once_reverse_once(
    db: Database, clock: FrozenClock, settings: Settings, parties: tuple[Person, Person]
) -> None:
    payer, payee = parties
    transfer = pay(db, payer, payee, "300.00", at=clock.now(), settings=settings)
    desk = _desk(db, clock, settings, payer)
    command_id = desk.propose(commands.REVERSE_TRANSFER, transfer["id"])
    # Nobody approves their own proposal, and one proposal per transfer waits at a time.
    with pytest.raises(DomainError) as own:
        desk.approve(command_id, checker=desk.officer)
    assert own.value.code in ("own_command", "staff_forbidden")
    with pytest.raises(DomainError) as twice:
        desk.propose(commands.REVERSE_TRANSFER, transfer["id"])
    assert twice.value.code == "reversal_already_proposed"
    assert _balances(db, payer, payee) == [700_00, 300_00]

    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def approve(checker: CurrentStaff) -> None:
        barrier.wait(timeout=10)
        try:
            desk.approve(command_id, checker)
            outcomes.append("executed")
        except DomainError as refusal:
            outcomes.append(refusal.code)

    threads = [threading.Thread(target=approve, args=(c,)) for c in desk.supervisors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert Counter(outcomes) == {"executed": 1, "command_not_pending": 1}
    assert _balances(db, payer, payee) == [1_000_00, 0]

    def recorded(s: Session) -> tuple[int, int, str, str | None]:
        reversal = s.scalars(select(TransferReversal)).one()
        entries = s.scalar(
            select(func.count(JournalEntry.id)).where(JournalEntry.kind == "transfer_reversal")
        )
        status = s.scalar(select(Command.status).where(Command.public_id == command_id))
        return int(entries or 0), reversal.case_id or 0, reversal.command_id, status

    entries, case_id, by_command, status = run_read(db, recorded)
    assert (entries, case_id, by_command, status) == (1, desk.case_id, command_id, "EXECUTED")
    assert _problems(db, clock.now()) == []
    # Both customers are told: the payer of the money back, the payee with the bank's phone.
    assert any("冲正" in text and "退回" in text for text in _sms(db, payer.customer.mobile))
    assert any("冲正扣回" in text and "95588" in text for text in _sms(db, payee.customer.mobile))
    # The customer's operations (the case's timeline) show it; the proposal is in the notes.
    events = [r.event for r in run_read(db, lambda s: risk.timeline(s, case_id=desk.case_id))]
    assert "transfer_reversed" in events and "command_executed" in events
    notes = run_read(db, lambda s: s.get_one(RiskCase, desk.case_id).notes)
    assert command_id in notes
    # Reversed once: a new proposal for it is refused.
    with pytest.raises(DomainError) as again:
        desk.propose(commands.REVERSE_TRANSFER, transfer["id"])
    assert again.value.code == "transfer_already_reversed"


def test_the_payees_missing_funds_refuse_the_reversal_and_nothing_moves(
    db: Database, clock: FrozenClock, settings: Settings, parties: tuple[Person, Person]
) -> None:
    payer, payee = parties
    transfer = pay(db, payer, payee, "300.00", at=clock.now(), settings=settings)
    desk = _desk(db, clock, settings, payer)
    command_id = desk.propose(commands.REVERSE_TRANSFER, transfer["id"])
    pay(db, payee, payer, "250.00", at=clock.now(), settings=settings)  # the mule moved it on
    before = _balances(db, payer, payee)
    entries = run_read(db, lambda s: s.scalar(select(func.count(JournalEntry.id))))
    with pytest.raises(DomainError) as refused:
        desk.approve(command_id)
    assert refused.value.code == "reversal_insufficient_funds"
    assert _balances(db, payer, payee) == before
    assert run_read(db, lambda s: s.scalar(select(func.count(JournalEntry.id)))) == entries
    assert run_read(db, lambda s: s.scalar(select(func.count(TransferReversal.id)))) == 0
    status = run_read(db, lambda s: s.scalar(select(Command.status).where(
        Command.public_id == command_id)))  # fmt: skip
    assert status == "PENDING"  # still waiting: the supervisor may reject it
    assert _problems(db, clock.now()) == []


def test_only_the_case_customers_completed_outgoing_transfer_is_reversible(
    db: Database, clock: FrozenClock, settings: Settings, parties: tuple[Person, Person]
) -> None:
    payer, payee = parties
    incoming = pay(db, payer, payee, "10.00", at=clock.now(), settings=settings)
    desk = _desk(db, clock, settings, payee)  # a case about the payee
    for transfer_id in (incoming["id"], "no-such-transfer"):
        with pytest.raises(DomainError) as refused:
            desk.propose(commands.REVERSE_TRANSFER, transfer_id)
        assert refused.value.code == "transfer_not_reversible"


def test_a_recall_of_a_settled_transfer_returns_it_and_credits_the_payer_once(
    net: Net,  # noqa: F811 - the fixture imported above
) -> None:
    before = net.balance()
    tid = net.pay("800.00")
    net.job.tick()
    assert net.status(tid) == "SETTLED" and net.balance() == before - 800_00
    desk = _desk(net.db, net.clock, net.settings, net.payer)
    command_id = desk.propose(commands.RECALL_INTERBANK, tid, "fraud: the payer was deceived")
    with pytest.raises(DomainError) as twice:
        desk.propose(commands.RECALL_INTERBANK, tid)
    assert twice.value.code == "reversal_already_proposed"
    desk.approve(command_id)
    gateway = net.job.gateway
    assert tasks.send_recalls(net.db, gateway, now=net.clock.now()) == 1
    assert tasks.send_recalls(net.db, gateway, now=net.clock.now()) == 0  # answered once
    recall = run_read(net.db, lambda s: s.scalars(select(InterbankRecall)).one())
    assert (recall.status, recall.command_id) == ("agreed", command_id)
    net.job.follow(net.clock.now())
    assert net.status(tid) == "RETURNED" and net.balance() == before
    net.job.follow(net.clock.now())
    net.job.tick()
    assert net.balance() == before  # credited once
    assert any("退汇" in text for text in _sms(net.db, net.payer.customer.mobile))
    assert net.verify() == []
    assert _problems(net.db, net.clock.now()) == []
    notes = run_read(net.db, lambda s: s.get_one(RiskCase, desk.case_id).notes)
    assert "agreed" in notes
    with pytest.raises(DomainError) as returned:
        desk.propose(commands.RECALL_INTERBANK, tid)
    assert returned.value.code == "recall_not_possible"


def test_the_receiving_banks_refusal_is_recorded_for_the_officer(net: Net) -> None:  # noqa: F811
    tid = net.pay("90.00")
    net.job.tick()
    desk = _desk(net.db, net.clock, net.settings, net.payer)
    desk.approve(desk.propose(commands.RECALL_INTERBANK, tid, "customer says fraud"))
    gateway = net.job.gateway
    assert isinstance(gateway, CnapsSimulator)
    # Meanwhile the receiving bank sent it back by itself (a name mismatch).
    run_write(net.db, lambda s: _returned_by_the_bank(s, tid))
    tasks.send_recalls(net.db, gateway, now=net.clock.now())
    recall = run_read(net.db, lambda s: s.scalars(select(InterbankRecall)).one())
    assert (recall.status, recall.answer_reason) == ("refused", "already_returned")
    notes = run_read(net.db, lambda s: s.get_one(RiskCase, desk.case_id).notes)
    assert "refused (already_returned)" in notes
    assert gateway.recall("unknown-msg", "x").reason == "unknown_item"


def _returned_by_the_bank(s: Session, msg_id: str) -> None:
    from wangyin.clearing.models import SimulatedItem

    item = s.scalars(select(SimulatedItem).where(SimulatedItem.msg_id == msg_id)).one()
    item.status, item.reason = "RT00", "name_mismatch"
    assert item.reason != RECALLED


def test_a_recall_past_the_followed_window_or_with_the_network_away(net: Net) -> None:  # noqa: F811
    tid = net.pay("60.00")
    net.job.tick()
    desk = _desk(net.db, net.clock, net.settings, net.payer)
    late = desk.propose(commands.RECALL_INTERBANK, tid, "reported a week later")
    net.clock.advance(days=net.clearing.return_days + 3)
    with pytest.raises(DomainError) as refused:
        desk.approve(late)  # the clearing worker no longer follows it: nothing would come back
    assert refused.value.code == "recall_window_passed"

    tid = net.pay("70.00")
    net.job.tick()
    command_id = desk.propose(commands.RECALL_INTERBANK, tid, "fraud: phishing link")
    desk.approve(command_id)
    with pytest.raises(DomainError) as open_request:
        desk.propose(commands.RECALL_INTERBANK, tid)
    assert open_request.value.code == "recall_already_requested"
    away_settings = net.clearing.model_copy(update={"sim_unavailable": True})
    away = CnapsSimulator(net.db, net.clock, away_settings)
    assert tasks.send_recalls(net.db, away, now=net.clock.now()) == 0
    recall = run_read(net.db, lambda s: s.scalars(select(InterbankRecall)).one())
    assert recall.status == "requested"  # sent again at the next tick
    assert tasks.send_recalls(net.db, net.job.gateway, now=net.clock.now()) == 1


def test_verify_names_a_reversal_whose_transfer_is_no_longer_completed(
    db: Database, clock: FrozenClock, settings: Settings, parties: tuple[Person, Person]
) -> None:
    payer, payee = parties
    transfer = pay(db, payer, payee, "5.00", at=clock.now(), settings=settings)
    desk = _desk(db, clock, settings, payer)
    desk.approve(desk.propose(commands.REVERSE_TRANSFER, transfer["id"]))
    assert run_read(db, lambda s: service.verify(s).checks["reversed transfers"]) == 1

    def tamper(s: Session) -> None:
        row = s.scalars(select(TransferReversal)).one()
        s.get_one(TransferRequest, row.transfer_id).status = "EXPIRED"

    run_write(db, tamper)
    assert any("not completed" in p for p in run_read(db, lambda s: service.verify(s).problems))


def test_the_simulated_receiving_bank_refuses_what_it_cannot_return(net: Net) -> None:  # noqa: F811
    gateway = net.job.gateway
    assert isinstance(gateway, CnapsSimulator)
    run_write(
        net.db, lambda s: add_account(s, bank_code=CMB, account="6214830000005555", name="赵敏")
    )
    beps = Item("beps-1", "BEPS", CMB, "6214830000005555", "赵敏", 10_00)
    assert gateway.send(beps).status == "PR00"  # taken, not netted yet
    assert gateway.recall("beps-1", "fraud").reason == "not_settled"
    ibps = Item("ibps-1", "IBPS", CMB, "6214830000005555", "赵敏", 10_00)
    assert gateway.send(ibps).status == "PR04"

    def close(s: Session) -> None:
        s.scalars(
            select(SimulatedAccount).where(SimulatedAccount.account == "6214830000005555")
        ).one().status = "closed"

    run_write(net.db, close)
    refused = gateway.recall("ibps-1", "fraud")
    assert (refused.agreed, refused.reason) == (False, "account_closed")
