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
from functools import cache
from typing import Any

from sqlalchemy import (
    bindparam,
    case,
    func,
    insert,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from wangyin.db import defer_write, is_sqlite, read_together, table_of
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
    """The bank's first sub-account for a purpose (CASH, CLEARING, FEES, SUSPENSE)."""
    return bank_account(session, purpose=purpose, currency=currency, at=at, shard=0)


def bank_account_code(purpose: str, currency: str, shard: int) -> str:
    # Sub-account 0 keeps the code the bank's accounts had before they were split.
    return f"BANK:{purpose}:{currency}" if shard == 0 else f"BANK:{purpose}:{currency}:{shard:02d}"


def bank_account(
    session: Session, *, purpose: str, currency: str, at: datetime, shard: int
) -> LedgerAccount:
    """One of the bank's sub-accounts for a purpose and currency (rule 8: no row that every
    payment writes). Callers choose the shard per transfer (e.g. from its id), so concurrent
    payments lock different rows; reports and `verify` sum a purpose over its shards.
    Opened on first use; two first uses racing lose on the unique code and are retried."""
    code = bank_account_code(purpose, currency, shard)
    account = session.scalars(select(LedgerAccount).where(LedgerAccount.code == code)).first()
    if account is None:
        account = open_account(
            session, code=code, currency=currency, kind="internal", at=at, allow_negative=True
        )
    return account


def bank_totals(accounts: Sequence[LedgerAccount]) -> dict[tuple[str, str], tuple[int, int]]:
    """(purpose, currency) -> (sub-accounts, summed balance) of the bank's own accounts."""
    totals: dict[tuple[str, str], tuple[int, int]] = {}
    for account in accounts:
        parts = account.code.split(":")
        if account.kind != "internal" or len(parts) < 3 or parts[0] != "BANK":
            continue
        count, total = totals.get((parts[1], parts[2]), (0, 0))
        totals[(parts[1], parts[2])] = (count + 1, total + account.balance_minor)
    return totals


_ACCOUNT_ID_BY_CODE = select(LedgerAccount.id).where(LedgerAccount.code == bindparam("code"))


def bank_account_id(
    session: Session, *, purpose: str, currency: str, at: datetime, shard: int
) -> int:
    """The id of one of the bank's sub-accounts (one prebuilt read; opened on first use):
    what a payment path needs to post to it."""
    code = bank_account_code(purpose, currency, shard)
    # read_together: when the transaction has not begun, BEGIN goes with this read.
    found = read_together(session, [(_ACCOUNT_ID_BY_CODE, {"code": code})])[0]
    if found:
        return int(found[0].id)
    return bank_account(session, purpose=purpose, currency=currency, at=at, shard=shard).id


def shard_of(public_id: str, shards: int) -> int:
    """A stable, evenly spread shard for a transfer or entry id."""
    return int(hashlib.blake2s(public_id.encode(), digest_size=4).hexdigest(), 16) % shards


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


@dataclass(frozen=True, slots=True)
class Posted:
    """A booked journal entry: its ids and each touched account's balance after it."""

    id: int
    public_id: str
    balances: dict[int, int]
    replayed: bool = False


_ACCOUNTS = table_of(LedgerAccount)
_ENTRIES = table_of(JournalEntry)
_POSTINGS = table_of(Posting)


def post(
    session: Session,
    *,
    kind: str,
    legs: Sequence[Leg],
    at: datetime,
    description: str = "",
    idempotency_key: str | None = None,
    digest: str | None = None,
    locked: Sequence[Any] | None = None,
) -> Posted:
    """Book one balanced journal entry, exactly once per idempotency key.

    Lock the accounts (ascending id), insert the entry (a replayed key inserts nothing),
    then the balances and postings join the transaction's trailing writes. Every refusal
    is decided on the locked rows before anything is written, so a caller may commit its
    own bookkeeping of the refusal in the same transaction.

    `locked`: the rows of `lock_read`, when the caller locked them together with its own
    rows. With an entry id reserved there (PostgreSQL), the entry joins the trailing
    writes too, and the key's uniqueness is only a backstop: such a caller guarantees
    "once" itself (the transfer's locked row and status)."""
    _check_balanced(legs)
    ids = sorted({leg.account_id for leg in legs})
    rows: list[Any] = (
        _lock_accounts(session, ids, reserve_entry_id=idempotency_key is None)
        if locked is None
        else list(locked)
    )
    reserved = next((row.next_entry_id for row in rows if "next_entry_id" in row._fields), None)
    by_id = {row.id: row for row in rows}
    if len(by_id) != len(ids):
        raise DomainError("account_not_found")
    delta: dict[int, int] = defaultdict(int)
    for leg in legs:
        if by_id[leg.account_id].currency != leg.currency:
            raise DomainError("currency_mismatch", currency=leg.currency)
        delta[leg.account_id] += leg.amount_minor
    balances: dict[int, int] = {}
    for account_id, change in delta.items():
        row = by_id[account_id]
        balances[account_id] = row.balance_minor + change
        if change < 0 and not row.allow_negative and balances[account_id] - row.held_minor < 0:
            raise DomainError("insufficient_funds")

    public_id = new_public_id()
    entry = {
        "public_id": public_id,
        "kind": kind,
        "description": description,
        "idempotency_key": idempotency_key,
        "request_digest": digest,
        "created_at": at,
    }
    if reserved is not None:
        entry_id = int(reserved)
        defer_write(session, _INSERT_ENTRY, {"id": entry_id, **entry})
    else:
        entry_id = _insert_entry_now(session, entry, idempotency_key, digest)
        if entry_id < 0:  # this key was booked before: the first booking stands
            existing = session.execute(_ENTRY_BY_KEY, {"key": idempotency_key}).one()
            return Posted(id=existing.id, public_id=existing.public_id, balances={}, replayed=True)

    moves = list(delta.items())
    # The rows are locked and the checks made: balances and postings join the batch of the
    # transaction's trailing writes (db.defer_write).
    defer_write(
        session,
        _move_balances(len(moves)),
        {
            **{f"account_{i}": account_id for i, (account_id, _) in enumerate(moves)},
            **{f"change_{i}": change for i, (_, change) in enumerate(moves)},
        },
    )
    # A running balance per leg: an account on several legs gets each step's balance.
    running = {account_id: by_id[account_id].balance_minor for account_id in delta}
    rows = []
    for leg in sorted(legs, key=lambda leg: leg.amount_minor):  # debits first
        running[leg.account_id] += leg.amount_minor
        rows.append(
            {
                "public_id": new_public_id(),
                "entry_id": entry_id,
                "ledger_account_id": leg.account_id,
                "amount_minor": leg.amount_minor,
                "currency": leg.currency,
                "balance_after_minor": running[leg.account_id],
                "memo": leg.memo,
                "counterparty_name": leg.counterparty_name,
                "counterparty_account": leg.counterparty_account,
                "created_at": at,
            }
        )
    for posting in rows:
        defer_write(session, _INSERT_POSTINGS, posting)
    return Posted(id=entry_id, public_id=public_id, balances=balances)


def _insert_entry_now(
    session: Session, entry: dict[str, Any], idempotency_key: str | None, digest: str | None
) -> int:
    """Insert the entry at once (its id is needed); -1 when its key was booked before."""
    inserted = session.execute(_insert_entry(session.get_bind().dialect.name), entry).first()
    if inserted is not None:
        return int(inserted.id)
    existing = session.execute(_ENTRY_BY_KEY, {"key": idempotency_key}).one()
    if existing.request_digest != digest:
        raise DomainError("idempotency_key_reused")
    return -1


def lock_read(account_ids: Sequence[int], *, reserve_entry_id: bool) -> tuple[Any, dict[str, Any]]:
    """Lock accounts for `post` (ascending id), as a statement and its parameters, for a
    caller that sends it with its other locks (`db.read_together`). `reserve_entry_id`
    (PostgreSQL) also draws the journal entry's id from its sequence, so the entry can be
    written with the transaction's trailing writes."""
    ids = sorted(set(account_ids))
    return _lock_for_posting(len(ids), reserve_entry_id), {
        f"account_{i}": account_id for i, account_id in enumerate(ids)
    }


@cache
def _lock_for_posting(accounts: int, reserve_entry_id: bool) -> Any:
    query = (
        select(
            _ACCOUNTS.c.id,
            _ACCOUNTS.c.currency,
            _ACCOUNTS.c.balance_minor,
            _ACCOUNTS.c.held_minor,
            _ACCOUNTS.c.allow_negative,
        )
        .where(_ACCOUNTS.c.id.in_([bindparam(f"account_{i}") for i in range(accounts)]))
        .order_by(_ACCOUNTS.c.id)
        .with_for_update(of=_ACCOUNTS)
    )
    if reserve_entry_id:
        next_id = select(func.nextval(literal_column("'journal_entries_id_seq'"))).scalar_subquery()
        query = query.add_columns(next_id.label("next_entry_id"))
    return query


# The posting path's statements, built once (see payments.service for why).
_INSERT_ENTRY = insert(_ENTRIES)
_LOCK_FOR_POSTING = (
    select(
        _ACCOUNTS.c.id,
        _ACCOUNTS.c.currency,
        _ACCOUNTS.c.balance_minor,
        _ACCOUNTS.c.held_minor,
        _ACCOUNTS.c.allow_negative,
    )
    .where(_ACCOUNTS.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_ACCOUNTS.c.id)
    .with_for_update()
)
def _lock_accounts(session: Session, ids: list[int], *, reserve_entry_id: bool) -> list[Any]:
    """Lock the posting's accounts in ascending id order (the project's lock order). On
    PostgreSQL, with `reserve_entry_id` (no idempotency key: nothing to find a replay by),
    the entry's id comes with the locks, so the entry joins the trailing writes."""
    if is_sqlite(session) or len(ids) > _FEW_ACCOUNTS:
        # A posting to many accounts (a batch's payouts): one expanding IN, not a cached
        # statement per number of accounts.
        return list(session.execute(_LOCK_FOR_POSTING, {"ids": ids}))
    # One parameter per account (`lock_read`), not `id = ANY(array)`: PostgreSQL cannot
    # cost an array of unknown length in a generic plan, so it planned that statement
    # afresh on every post (pg_prepared_statements: 0 generic plans, 45 custom in 50).
    return read_together(session, [lock_read(ids, reserve_entry_id=reserve_entry_id)])[0]


_FEW_ACCOUNTS = 8


_ENTRY_BY_KEY = select(_ENTRIES.c.id, _ENTRIES.c.public_id, _ENTRIES.c.request_digest).where(
    _ENTRIES.c.idempotency_key == bindparam("key")
)
_INSERT_POSTINGS = insert(_POSTINGS)


@cache
def _insert_entry(dialect: str) -> Any:
    """INSERT … ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, in the dialect."""
    insert_for = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert_for(_ENTRIES)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(_ENTRIES.c.id)
    )


@cache
def _move_balances(accounts: int) -> Any:
    """One UPDATE moving `accounts` balances by their changes (CASE on the id)."""
    change = case(
        *(
            (_ACCOUNTS.c.id == bindparam(f"account_{i}"), bindparam(f"change_{i}"))
            for i in range(accounts)
        ),
        else_=literal(0),
    )
    return (
        update(_ACCOUNTS)
        .where(_ACCOUNTS.c.id.in_([bindparam(f"account_{i}") for i in range(accounts)]))
        .values(balance_minor=_ACCOUNTS.c.balance_minor + change)
    )


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
    # The bank's sub-accounts are one account per purpose and currency to a reader.
    for (purpose, currency), (count, total) in sorted(bank_totals(accounts).items()):
        report.checks[f"bank {purpose} {currency}: {count} sub-accounts, balance"] = total
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
