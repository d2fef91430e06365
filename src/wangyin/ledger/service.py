"""The only writer of balances.

Every domain moves money through `post(...)`: one journal entry whose postings sum to
zero per currency, locking the touched accounts in ascending id order so concurrent
transfers never deadlock, refusing to take a customer account below zero available.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wangyin.errors import DomainError
from wangyin.ids import new_public_id
from wangyin.ledger.models import Hold, JournalEntry, LedgerAccount, Posting
from wangyin.money import exponent


@dataclass(frozen=True, slots=True)
class Leg:
    """One side of a movement, seen from `account_id`'s holder."""

    account_id: int
    amount_minor: int
    currency: str
    memo: str = ""
    counterparty_name: str = ""
    counterparty_account: str = ""


def open_account(
    session: Session,
    *,
    code: str,
    currency: str,
    kind: str,
    at: datetime,
    allow_negative: bool = False,
) -> LedgerAccount:
    exponent(currency)
    account = LedgerAccount(
        code=code,
        kind=kind,
        currency=currency,
        balance_minor=0,
        held_minor=0,
        allow_negative=allow_negative,
        created_at=at,
    )
    session.add(account)
    session.flush()
    return account


def internal_account(
    session: Session, *, purpose: str, currency: str, at: datetime
) -> LedgerAccount:
    """The bank's own account for a purpose (CASH, CLEARING, FEES, SUSPENSE) and currency."""
    code = f"BANK:{purpose}:{currency}"
    account = session.scalars(select(LedgerAccount).where(LedgerAccount.code == code)).first()
    if account is None:
        account = open_account(
            session, code=code, currency=currency, kind="internal", at=at, allow_negative=True
        )
    return account


def request_digest(payload: object) -> str:
    """SHA-256 of a canonical JSON form: equal requests give equal digests."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def lock_accounts(session: Session, account_ids: Sequence[int]) -> dict[int, LedgerAccount]:
    """Lock rows in ascending id order (the one lock order every transaction uses)."""
    ids = sorted(set(account_ids))
    rows = session.scalars(
        select(LedgerAccount)
        .where(LedgerAccount.id.in_(ids))
        .order_by(LedgerAccount.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    found = {row.id: row for row in rows}
    if len(found) != len(ids):
        raise DomainError("account_not_found")
    return found


def post(
    session: Session,
    *,
    kind: str,
    legs: Sequence[Leg],
    at: datetime,
    description: str = "",
    idempotency_key: str | None = None,
    digest: str | None = None,
) -> JournalEntry:
    """Book one balanced journal entry, exactly once per idempotency key."""
    _check_balanced(legs)
    if idempotency_key is not None:
        existing = session.scalars(
            select(JournalEntry).where(JournalEntry.idempotency_key == idempotency_key)
        ).first()
        if existing is not None:
            if existing.request_digest != digest:
                raise DomainError("idempotency_key_reused")
            return existing

    accounts = lock_accounts(session, [leg.account_id for leg in legs])
    for leg in legs:
        if accounts[leg.account_id].currency != leg.currency:
            raise DomainError("currency_mismatch", currency=leg.currency)

    entry = JournalEntry(
        public_id=new_public_id(),
        kind=kind,
        description=description,
        idempotency_key=idempotency_key,
        request_digest=digest,
        created_at=at,
    )
    session.add(entry)
    session.flush()

    # Apply debits before credits so an account that is both never looks overdrawn midway.
    for leg in sorted(legs, key=lambda leg: leg.amount_minor):
        account = accounts[leg.account_id]
        new_balance = account.balance_minor + leg.amount_minor
        if (
            leg.amount_minor < 0
            and not account.allow_negative
            and new_balance - account.held_minor < 0
        ):
            raise DomainError("insufficient_funds")
        account.balance_minor = new_balance
        session.add(
            Posting(
                public_id=new_public_id(),
                entry_id=entry.id,
                ledger_account_id=account.id,
                amount_minor=leg.amount_minor,
                currency=leg.currency,
                balance_after_minor=new_balance,
                memo=leg.memo,
                counterparty_name=leg.counterparty_name,
                counterparty_account=leg.counterparty_account,
                created_at=at,
            )
        )
    session.flush()
    return entry


def _check_balanced(legs: Sequence[Leg]) -> None:
    if len(legs) < 2:
        raise ValueError("a journal entry needs at least two legs")
    totals: dict[str, int] = defaultdict(int)
    for leg in legs:
        if leg.amount_minor == 0:
            raise ValueError("a leg must move a non-zero amount")
        exponent(leg.currency)
        totals[leg.currency] += leg.amount_minor
    unbalanced = {cur: total for cur, total in totals.items() if total != 0}
    if unbalanced:
        raise ValueError(f"journal entry does not balance: {unbalanced}")


def place_hold(
    session: Session, *, account_id: int, amount_minor: int, reason: str, at: datetime
) -> Hold:
    if amount_minor <= 0:
        raise DomainError("amount_not_positive")
    account = lock_accounts(session, [account_id])[account_id]
    if not account.allow_negative and account.available_minor - amount_minor < 0:
        raise DomainError("insufficient_funds")
    account.held_minor += amount_minor
    hold = Hold(
        public_id=new_public_id(),
        ledger_account_id=account_id,
        amount_minor=amount_minor,
        reason=reason,
        status="active",
        created_at=at,
    )
    session.add(hold)
    session.flush()
    return hold


def release_hold(session: Session, *, hold: Hold, at: datetime) -> None:
    if hold.status != "active":
        return
    account = lock_accounts(session, [hold.ledger_account_id])[hold.ledger_account_id]
    account.held_minor -= hold.amount_minor
    hold.status = "released"
    hold.released_at = at
    session.flush()


# ---------------------------------------------------------------------------------------
# Verification: recompute everything derived and compare.


@dataclass
class VerifyReport:
    checks: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def merge(self, other: VerifyReport) -> None:
        self.checks.update(other.checks)
        self.problems.extend(other.problems)


def verify(session: Session) -> VerifyReport:
    report = VerifyReport()

    unbalanced = session.execute(
        select(Posting.entry_id, Posting.currency, func.sum(Posting.amount_minor))
        .group_by(Posting.entry_id, Posting.currency)
        .having(func.sum(Posting.amount_minor) != 0)
    ).all()
    report.checks["journal entries"] = session.scalar(select(func.count(JournalEntry.id))) or 0
    for entry_id, currency, total in unbalanced:
        report.problems.append(f"journal entry {entry_id} does not balance in {currency}: {total}")

    thin = session.execute(
        select(JournalEntry.id)
        .outerjoin(Posting, Posting.entry_id == JournalEntry.id)
        .group_by(JournalEntry.id)
        .having(func.count(Posting.id) < 2)
    ).all()
    for (entry_id,) in thin:
        report.problems.append(f"journal entry {entry_id} has fewer than two postings")

    sums = dict(
        session.execute(
            select(Posting.ledger_account_id, func.sum(Posting.amount_minor)).group_by(
                Posting.ledger_account_id
            )
        ).all()
    )
    held = dict(
        session.execute(
            select(Hold.ledger_account_id, func.sum(Hold.amount_minor))
            .where(Hold.status == "active")
            .group_by(Hold.ledger_account_id)
        ).all()
    )
    last_after = dict(
        session.execute(
            select(Posting.ledger_account_id, Posting.balance_after_minor).where(
                Posting.id.in_(select(func.max(Posting.id)).group_by(Posting.ledger_account_id))
            )
        ).all()
    )
    accounts = session.scalars(select(LedgerAccount)).all()
    report.checks["ledger accounts"] = len(accounts)
    for account in accounts:
        expected = int(sums.get(account.id) or 0)
        if account.balance_minor != expected:
            report.problems.append(
                f"ledger account {account.code}: balance {account.balance_minor} "
                f"but postings sum to {expected}"
            )
        if account.id in last_after and last_after[account.id] != account.balance_minor:
            report.problems.append(
                f"ledger account {account.code}: last posting says {last_after[account.id]} "
                f"but balance is {account.balance_minor}"
            )
        expected_held = int(held.get(account.id) or 0)
        if account.held_minor != expected_held:
            report.problems.append(
                f"ledger account {account.code}: held {account.held_minor} "
                f"but active holds sum to {expected_held}"
            )
        if not account.allow_negative and account.available_minor < 0:
            report.problems.append(f"ledger account {account.code}: available balance is negative")

    wrong_currency = session.execute(
        select(Posting.id, LedgerAccount.code)
        .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
        .where(Posting.currency != LedgerAccount.currency)
    ).all()
    for posting_id, code in wrong_currency:
        report.problems.append(f"posting {posting_id} is in another currency than {code}")

    report.checks["postings"] = session.scalar(select(func.count(Posting.id))) or 0
    keyed = session.scalar(
        select(func.count(JournalEntry.id)).where(JournalEntry.idempotency_key.is_not(None))
    )
    distinct_keys = session.scalar(select(func.count(func.distinct(JournalEntry.idempotency_key))))
    report.checks["idempotency keys"] = int(keyed or 0)
    if (keyed or 0) != (distinct_keys or 0):
        report.problems.append("an idempotency key was applied more than once")
    return report
