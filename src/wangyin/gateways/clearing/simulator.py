"""A CNAPS simulator that behaves like the three systems (payment-systems.md), run by
`wangyin worker`. Its book is its own tables (cnaps_sim_items, cnaps_sim_accounts), written
in its own transactions: to the bank it is another party, reached only through
`ClearingGateway`.

- HVPS: working days, 20:30 of the previous day to 17:15; real-time gross: settled on receipt.
- IBPS: 7x24 real time, per-item ceiling (default 5万): settled on receipt.
- BEPS: 7x24, per-item ceiling (default 5万); items are netted (PR03) at the next batch
  boundary (every `beps_batch_minutes`) and settled (PR04) at the boundary after.
- A payee account the receiving bank knows under another name is settled, then returned
  (退汇) `return_days` days later; a closed one, an unknown bank code, an item over its
  system's ceiling or an HVPS item outside its hours is rejected (PR09).
- Switches for tests: `sim_delay_seconds` (answers later than the send's timeout),
  `sim_unavailable` (not reached), `sim_lose_answers` (takes the item, answer lost).
- IBPS mobile aliases at other banks (`alias_directory`): a look-up answers the masked name,
  the bank and a reference token; an IBPS item naming a token is paid to the account behind
  it (a token expired or forged is rejected, `alias_unknown`). Look-ups and name checks
  obey the delay and unavailable switches like the other calls.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from wangyin.clearing.models import BankBranch, SimulatedAccount, SimulatedItem
from wangyin.clearing.settings import ClearingSettings
from wangyin.clock import Clock, as_utc, bank_day_bounds_utc
from wangyin.db import Database
from wangyin.gateways.clearing import (
    ACCEPTED,
    NETTED,
    RECALLED,
    REJECTED,
    RETURNED,
    SETTLED,
    SYSTEMS,
    AliasAnswer,
    Answer,
    ClearingTimeout,
    ClearingUnavailable,
    Item,
    RecallAnswer,
    alias_directory,
)
from wangyin.gateways.clearing.hours import hvps_open
from wangyin.uow import run_read, run_write


class CnapsSimulator:
    def __init__(self, db: Database, clock: Clock, settings: ClearingSettings) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings

    # --- what the bank calls ------------------------------------------------------------

    def send(self, item: Item) -> Answer:
        if self.settings.sim_unavailable:
            raise ClearingUnavailable("the clearing network is not reachable")
        answer = run_write(self.db, lambda s: self._receive(s, item))
        # The answer comes later than the bank waits: the item is taken all the same.
        self._answer_delay()
        if self.settings.sim_lose_answers:
            raise ClearingTimeout("the clearing network's answer was lost")
        return answer

    def status(self, msg_id: str) -> Answer | None:
        if self.settings.sim_unavailable:
            raise ClearingUnavailable("the clearing network is not reachable")
        found = run_read(self.db, lambda s: _item(s, msg_id))
        return _answer(found) if found is not None else None

    def recall(self, msg_id: str, reason: str) -> RecallAnswer:
        if self.settings.sim_unavailable:
            raise ClearingUnavailable("the clearing network is not reachable")
        answer = run_write(self.db, lambda s: self._recall(s, msg_id))
        self._answer_delay()
        return answer

    def tick(self, now: datetime) -> None:
        run_write(self.db, lambda s: self._progress(s, as_utc(now)))

    def lookup_alias(self, mobile: str) -> AliasAnswer | None:
        """A read of the network's alias directory: the bank may ask inside its own
        transaction (it counts the look-up there)."""
        if self.settings.sim_unavailable:
            raise ClearingUnavailable("the clearing network is not reachable")
        now = self.clock.now()
        answer = run_read(self.db, lambda s: _alias_answer(s, mobile, now))
        self._answer_delay()
        return answer

    def check_alias_name(self, reference: str, name: str) -> bool:
        if self.settings.sim_unavailable:
            raise ClearingUnavailable("the clearing network is not reachable")
        now = self.clock.now()
        found = run_read(self.db, lambda s: alias_directory.resolve_token(s, reference, now=now))
        self._answer_delay()
        return found is not None and alias_directory.name_matches(found.name, name)

    def _answer_delay(self) -> None:
        delay = self.settings.sim_delay_seconds
        if delay > 0:
            time.sleep(min(delay, self.settings.send_timeout_seconds))
            if delay >= self.settings.send_timeout_seconds:
                raise ClearingTimeout("no answer from the clearing network in time")

    def statement(self, system: str, day: date) -> Path | None:
        """The day's statement (written once the day is over): every item received that day
        with its status when written."""
        _, end = bank_day_bounds_utc(day)
        if self.clock.now() < end:
            return None
        path = Path(self.settings.statement_dir) / f"{system}-{day.isoformat()}.csv"
        if not path.exists():
            lines = run_read(self.db, lambda s: _statement_lines(s, system, day))
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".part")
            partial.write_text("msg_id,amount_minor,status\n" + "".join(lines), encoding="utf-8")
            partial.replace(path)  # a reader never sees half a statement
        return path

    # --- the network's own rules --------------------------------------------------------

    def _receive(self, session: Session, item: Item) -> Answer:
        existing = _item(session, item.msg_id)
        if existing is not None:  # one item per message id, however often it is sent
            return _answer(existing)
        now = as_utc(self.clock.now())
        item, reason = _resolve_alias(session, item, now)
        reason = reason or self._refusal(session, item, now)
        row = SimulatedItem(
            msg_id=item.msg_id,
            system=item.system,
            bank_code=item.bank_code,
            account=item.account,
            payee_name=item.payee_name,
            amount_minor=item.amount_minor,
            status=REJECTED if reason else ACCEPTED,
            reason=reason,
            received_at=now,
        )
        if not reason and item.system in ("HVPS", "IBPS"):
            self._settle(session, row, now)  # real time
        session.add(row)
        session.flush()
        return _answer(row)

    def _refusal(self, session: Session, item: Item, now: datetime) -> str:
        if item.system not in SYSTEMS:
            return "unknown_system"
        known = session.scalars(select(BankBranch.id).where(BankBranch.code == item.bank_code))
        if known.first() is None:
            return "unknown_bank"
        ceiling = {
            "BEPS": self.settings.beps_ceiling_minor,
            "IBPS": self.settings.ibps_ceiling_minor,
        }.get(item.system)
        if ceiling is not None and item.amount_minor > ceiling:
            return "over_ceiling"
        if item.system == "HVPS" and not hvps_open(now, self.settings):
            return "hvps_closed"
        account = _account(session, item.account)
        if account is not None and account.status != "active":
            return "account_closed"
        return ""

    def _settle(self, session: Session, row: SimulatedItem, now: datetime) -> None:
        row.status = SETTLED
        row.settled_at = now
        account = _account(session, row.account)
        if account is not None and account.name != row.payee_name:
            # The receiving bank finds the name differs and sends the money back later.
            row.return_due_at = now + timedelta(days=self.settings.return_days)

    def _recall(self, session: Session, msg_id: str) -> RecallAnswer:
        """The receiving bank agrees to return a netted or settled item it has not returned
        (a netted one is settled first), unless the payee's account is closed."""
        row = session.scalars(
            select(SimulatedItem).where(SimulatedItem.msg_id == msg_id).with_for_update()
        ).first()
        if row is None:
            return RecallAnswer(msg_id, agreed=False, reason="unknown_item")
        if row.status == RETURNED:
            agreed = row.reason == RECALLED  # our own recall, asked again
            return RecallAnswer(msg_id, agreed=agreed, reason="" if agreed else "already_returned")
        if row.status not in (NETTED, SETTLED):
            return RecallAnswer(msg_id, agreed=False, reason="not_settled")
        account = _account(session, row.account)
        if account is not None and account.status != "active":
            return RecallAnswer(msg_id, agreed=False, reason="account_closed")
        now = as_utc(self.clock.now())
        if row.status == NETTED:
            row.settled_at = now
        row.status, row.reason, row.return_due_at = RETURNED, RECALLED, None
        return RecallAnswer(msg_id, agreed=True)

    def _progress(self, session: Session, now: datetime) -> None:
        minutes = self.settings.beps_batch_minutes
        epoch = datetime(2000, 1, 1, tzinfo=UTC)
        boundary = epoch + timedelta(
            minutes=((now - epoch) // timedelta(minutes=minutes)) * minutes
        )
        previous = boundary - timedelta(minutes=minutes)
        beps = select(SimulatedItem).where(SimulatedItem.system == "BEPS")
        # Netted at an earlier boundary: settled now (the batch's settlement).
        for row in session.scalars(
            beps.where(SimulatedItem.status == NETTED, SimulatedItem.received_at < previous)
        ):
            self._settle(session, row, now)
        for row in session.scalars(
            beps.where(SimulatedItem.status == ACCEPTED, SimulatedItem.received_at < boundary)
        ):
            row.status = NETTED
        for row in session.scalars(
            select(SimulatedItem).where(
                SimulatedItem.status == SETTLED, SimulatedItem.return_due_at <= now
            )
        ):
            row.status = RETURNED
            row.reason = "name_mismatch"


def _alias_answer(session: Session, mobile: str, now: datetime) -> AliasAnswer | None:
    alias = alias_directory.find(session, mobile)
    if alias is None:
        return None
    bank = session.scalars(select(BankBranch).where(BankBranch.code == alias.bank_code)).first()
    return AliasAnswer(
        masked_name=alias_directory.masked(alias),
        bank_code=alias.bank_code,
        bank_name=bank.bank_name if bank is not None else alias.bank_code,
        reference=alias_directory.make_token(alias, now=now),
    )


def _resolve_alias(session: Session, item: Item, now: datetime) -> tuple[Item, str]:
    """An IBPS item naming an alias token is paid to the account behind it."""
    if not alias_directory.is_token(item.account):
        return item, ""
    found = alias_directory.resolve_token(session, item.account, now=now)
    if found is None or found.bank_code != item.bank_code or item.system != "IBPS":
        return item, "alias_unknown"
    return replace(item, account=found.account, payee_name=found.name), ""


def _item(session: Session, msg_id: str) -> SimulatedItem | None:
    return session.scalars(select(SimulatedItem).where(SimulatedItem.msg_id == msg_id)).first()


def _account(session: Session, number: str) -> SimulatedAccount | None:
    found = select(SimulatedAccount).where(SimulatedAccount.account == number)
    return session.scalars(found).first()


def _answer(row: SimulatedItem) -> Answer:
    return Answer(msg_id=row.msg_id, status=row.status, reason=row.reason, at=row.received_at)


def _statement_lines(session: Session, system: str, day: date) -> list[str]:
    start, end = bank_day_bounds_utc(day)
    rows = session.scalars(
        select(SimulatedItem)
        .where(
            SimulatedItem.system == system,
            SimulatedItem.received_at >= start,
            SimulatedItem.received_at < end,
        )
        .order_by(SimulatedItem.id)
    )
    return [f"{r.msg_id},{r.amount_minor},{r.status}\n" for r in rows]


def add_account(
    session: Session, *, bank_code: str, account: str, name: str, status: str = "active"
) -> None:
    """An account a simulated receiving bank knows (demo data, tests)."""
    session.add(
        SimulatedAccount(bank_code=bank_code[:3], account=account, name=name, status=status)
    )
    session.flush()


# The demo's other-bank accounts: paying one under another name is returned (退汇) days
# later; the closed one is rejected.
DEMO_ACCOUNTS = (
    ("308", "6225880000000018", "赵敏"),
    ("102", "6222020000000027", "钱进"),
    ("102", "6222020000000035", "孙立", "closed"),
)


def seed_demo_accounts(session: Session) -> None:
    alias_directory.seed_demo_aliases(session, at=datetime.now(UTC))
    present = set(session.scalars(select(SimulatedAccount.account)))
    for bank, number, name, *status in DEMO_ACCOUNTS:
        if number not in present:
            add_account(
                session, bank_code=bank, account=number, name=name, status=(status or ["active"])[0]
            )
