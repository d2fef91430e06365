"""What the charts show, read from the ledger's postings with one or two aggregate queries
per chart (grouped in SQL by month or category, never a Python loop over the history).
Months are Asia/Shanghai months: their bounds are computed here as UTC instants and the
query buckets each posting with one CASE over them. Amounts are integer minor units;
foreign currencies count in CNY at the stated rates (as on the home page). A transfer
between two of the customer's own accounts is neither income nor spending."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from wangyin.accounts import service as accounts
from wangyin.accounts.models import Account
from wangyin.clock import BANK_TZ, as_utc, bank_date
from wangyin.errors import DomainError
from wangyin.home.service import to_cny_minor
from wangyin.insights import errors as _errors  # noqa: F401 - registers the domain's codes
from wangyin.insights.categories import CATEGORIES, categorise, sql_category
from wangyin.insights.models import CounterpartyCategory, EntryCategory
from wangyin.ledger.models import Posting

MONTHS = 12  # the monthly chart and the balance chart cover this many months
EARLIEST_MONTH = date(2000, 1, 1)  # no month before this is asked for (bounded parsing)
MAX_ENTRIES = 50  # statement lines listed for correction on one page
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")  # ASCII digits only


@dataclass(frozen=True)
class Month:
    key: str  # "2026-03"
    start: datetime  # UTC instant of 00:00 on the 1st in Beijing
    end: datetime


@dataclass(frozen=True)
class MonthTotals:
    month: str
    income_minor: int
    spending_minor: int


@dataclass(frozen=True)
class Monthly:
    months: list[MonthTotals]  # oldest first, the current month last
    unrated_currencies: list[str]


@dataclass(frozen=True)
class CategoryTotal:
    category: str
    spending_minor: int  # CNY
    count: int


@dataclass(frozen=True)
class Categories:
    month: str
    totals: list[CategoryTotal]  # largest first
    previous_spending_minor: int  # the month before, for the summary's comparison
    unrated_currencies: list[str]

    @property
    def spending_minor(self) -> int:
        return sum(t.spending_minor for t in self.totals)


@dataclass(frozen=True)
class BalancePoint:
    month: str
    balance_minor: int  # at the end of the month (now, for the current month)


@dataclass(frozen=True)
class Balance:
    account_id: str
    account_number: str
    nickname: str
    currency: str
    points: list[BalancePoint]


@dataclass(frozen=True)
class EntryLine:
    id: str
    booked_at: datetime
    amount_minor: int
    currency: str
    memo: str
    counterparty_name: str
    to_person: bool  # the line names an account: a person's name, shown masked
    category: str
    corrected: str  # "" (the rules), "entry" or "counterparty"


# ---------------------------------------------------------------- months


def month_of(moment: datetime) -> date:
    """The first day of the Beijing month of a UTC moment."""
    return bank_date(moment).replace(day=1)


def shift(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_window(first: date) -> Month:
    def utc(day: date) -> datetime:
        return datetime(day.year, day.month, 1, tzinfo=BANK_TZ).astimezone(UTC)

    return Month(f"{first:%Y-%m}", utc(first), utc(shift(first, 1)))


def last_months(now: datetime, count: int = MONTHS) -> list[Month]:
    current = month_of(now)
    return [month_window(shift(current, i)) for i in range(-count + 1, 1)]


def parse_month(text: str | None, *, now: datetime) -> date:
    """`YYYY-MM` exactly, from 2000-01 to the current Beijing month; empty: this month."""
    current = month_of(now)
    if not text:
        return current
    found = _MONTH.fullmatch(text)
    if found is None or not 1 <= int(found.group(2)) <= 12:
        raise DomainError("invalid_month")
    first = date(int(found.group(1)), int(found.group(2)), 1)
    if not EARLIEST_MONTH <= first <= current:
        raise DomainError("invalid_month")
    return first


# ---------------------------------------------------------------- shared SQL


def _own_ledger_ids(customer_id: int) -> Any:
    return (
        select(Account.ledger_account_id)
        .where(Account.customer_id == customer_id)
        .scalar_subquery()
    )


def _not_between_own_accounts(customer_id: int) -> ColumnElement[bool]:
    other = aliased(Posting)
    return ~exists().where(
        other.entry_id == Posting.entry_id,
        other.id != Posting.id,
        other.ledger_account_id.in_(_own_ledger_ids(customer_id)),
    )


def _bucket(column: Any, months: list[Month]) -> ColumnElement[int]:
    return case(*((column < m.end, i) for i, m in enumerate(months)), else_=-1)


def _category_of(customer_id: int) -> tuple[ColumnElement[str], Any, Any]:
    """The category with the customer's corrections first: (expression, entry join, cp join)."""
    entry = aliased(EntryCategory)
    party = aliased(CounterpartyCategory)
    expression = func.coalesce(entry.category, party.category, sql_category(Posting))
    entry_on = (entry, and_(entry.posting_id == Posting.id, entry.customer_id == customer_id))
    party_on = (
        party,
        and_(
            party.customer_id == customer_id,
            party.counterparty_name == Posting.counterparty_name,
            party.counterparty_account == Posting.counterparty_account,
        ),
    )
    return expression, entry_on, party_on


def _in_cny(
    rows: Sequence[Any], rates: dict[str, str], unrated: set[str], *, amount: str
) -> dict[Any, int]:
    """Sums per group key (row[0]) of `amount`, each currency at its rate (few rows: one per
    group and currency)."""
    totals: dict[Any, int] = {}
    for row in rows:
        value = to_cny_minor(int(getattr(row, amount)), row.currency, rates)
        if value is None:
            unrated.add(row.currency)
            continue
        totals[row[0]] = totals.get(row[0], 0) + value
    return totals


# ---------------------------------------------------------------- charts


def monthly(session: Session, *, customer_id: int, now: datetime, rates: dict[str, str]) -> Monthly:
    """Income and spending per Beijing month, the last MONTHS months: one query."""
    months = last_months(now)
    inner = (
        select(
            _bucket(Posting.created_at, months).label("bucket"),
            Posting.currency.label("currency"),
            Posting.amount_minor.label("amount"),
        )
        .where(
            Posting.ledger_account_id.in_(_own_ledger_ids(customer_id)),
            Posting.created_at >= months[0].start,
            Posting.created_at < months[-1].end,
            _not_between_own_accounts(customer_id),
        )
        .subquery()
    )
    rows = session.execute(
        select(
            inner.c.bucket,
            inner.c.currency,
            func.sum(case((inner.c.amount > 0, inner.c.amount), else_=0)).label("income"),
            func.sum(case((inner.c.amount < 0, -inner.c.amount), else_=0)).label("spending"),
        ).group_by(inner.c.bucket, inner.c.currency)
    ).all()
    unrated: set[str] = set()
    income = _in_cny(rows, rates, unrated, amount="income")
    spending = _in_cny(rows, rates, unrated, amount="spending")
    return Monthly(
        months=[
            MonthTotals(m.key, income.get(i, 0), spending.get(i, 0)) for i, m in enumerate(months)
        ],
        unrated_currencies=sorted(unrated),
    )


def categories(
    session: Session, *, customer_id: int, month: date, rates: dict[str, str]
) -> Categories:
    """Spending by category in one Beijing month (and the month before's total, for the
    comparison): one query, grouped by month and category."""
    months = [month_window(shift(month, -1)), month_window(month)]
    category, entry_on, party_on = _category_of(customer_id)
    inner = (
        select(
            _bucket(Posting.created_at, months).label("bucket"),
            category.label("category"),
            Posting.currency.label("currency"),
            (-Posting.amount_minor).label("amount"),
        )
        .outerjoin(*entry_on)
        .outerjoin(*party_on)
        .where(
            Posting.ledger_account_id.in_(_own_ledger_ids(customer_id)),
            Posting.amount_minor < 0,
            Posting.created_at >= months[0].start,
            Posting.created_at < months[1].end,
            _not_between_own_accounts(customer_id),
        )
        .subquery()
    )
    rows = session.execute(
        select(
            inner.c.bucket,
            inner.c.category,
            inner.c.currency,
            func.sum(inner.c.amount).label("spending"),
            func.count().label("lines"),
        ).group_by(inner.c.bucket, inner.c.category, inner.c.currency)
    ).all()
    unrated: set[str] = set()
    totals: dict[str, int] = {}
    counts: dict[str, int] = {}
    previous = 0
    for row in rows:
        value = to_cny_minor(int(row.spending), row.currency, rates)
        if value is None:
            unrated.add(row.currency)
            continue
        if row.bucket == 0:
            previous += value
        else:
            totals[row.category] = totals.get(row.category, 0) + value
            counts[row.category] = counts.get(row.category, 0) + int(row.lines)
    order = list(CATEGORIES)
    ranked = sorted(
        totals, key=lambda key: (-totals[key], order.index(key) if key in order else 99)
    )
    return Categories(
        month=months[1].key,
        totals=[CategoryTotal(key, totals[key], counts[key]) for key in ranked],
        previous_spending_minor=previous,
        unrated_currencies=sorted(unrated),
    )


def balance(session: Session, *, customer_id: int, account_id: str, now: datetime) -> Balance:
    """One account's balance at the end of each of the last MONTHS Beijing months: the
    running balance of the month's last posting (one grouped query), carried over months
    without postings, and of the last posting before them for the start."""
    account = accounts.owned_account(session, customer_id=customer_id, account_public_id=account_id)
    months = last_months(now)
    inner = (
        select(
            _bucket(Posting.created_at, months).label("bucket"),
            Posting.id.label("id"),
        )
        .where(
            Posting.ledger_account_id == account.ledger_account_id,
            Posting.created_at < months[-1].end,
        )
        .subquery()
    )
    last_ids = select(func.max(inner.c.id)).group_by(inner.c.bucket)
    rows = session.execute(
        select(
            _bucket(Posting.created_at, months).label("bucket"), Posting.balance_after_minor
        ).where(Posting.id.in_(last_ids))
    ).all()
    at_end = {int(row.bucket): int(row.balance_after_minor) for row in rows}
    running = at_end.get(-1, 0)  # before the first month shown
    points = []
    for i, m in enumerate(months):
        running = at_end.get(i, running)
        points.append(BalancePoint(m.key, running))
    return Balance(
        account_id=account.public_id,
        account_number=account.account_number,
        nickname=account.nickname,
        currency=account.currency,
        points=points,
    )


# ---------------------------------------------------------------- statement lines


def _entry_query(customer_id: int) -> Any:
    category, entry_on, party_on = _category_of(customer_id)
    entry, party = entry_on[0], party_on[0]
    return (
        select(
            Posting.id.label("row_id"),
            Posting.public_id,
            Posting.created_at,
            Posting.amount_minor,
            Posting.currency,
            Posting.memo,
            Posting.counterparty_name,
            Posting.counterparty_account,
            category.label("category"),
            entry.category.label("entry_category"),
            party.category.label("party_category"),
        )
        .outerjoin(*entry_on)
        .outerjoin(*party_on)
        .where(Posting.ledger_account_id.in_(_own_ledger_ids(customer_id)))
    )


def _line(row: Any) -> EntryLine:
    corrected = "entry" if row.entry_category else "counterparty" if row.party_category else ""
    return EntryLine(
        id=row.public_id,
        booked_at=as_utc(row.created_at),
        amount_minor=int(row.amount_minor),
        currency=row.currency,
        memo=row.memo,
        counterparty_name=row.counterparty_name,
        to_person=bool(row.counterparty_account),
        category=row.category,
        corrected=corrected,
    )


def entries(
    session: Session, *, customer_id: int, month: date, limit: int = MAX_ENTRIES
) -> list[EntryLine]:
    """The customer's statement lines of one Beijing month with their categories, newest
    first (at most `limit`): the list the customer corrects categories from."""
    window = month_window(month)
    rows = session.execute(
        _entry_query(customer_id)
        .where(Posting.created_at >= window.start, Posting.created_at < window.end)
        .order_by(Posting.id.desc())
        .limit(limit)
    ).all()
    return [_line(row) for row in rows]


def entry(session: Session, *, customer_id: int, entry_id: str) -> EntryLine:
    """One of the customer's statement lines; someone else's looks like none (404)."""
    row = session.execute(_entry_query(customer_id).where(Posting.public_id == entry_id)).first()
    if row is None:
        raise DomainError("statement_line_not_found")
    return _line(row)


def _upsert(session: Session, model: Any, values: dict[str, Any], keys: list[str]) -> None:
    """Insert or replace the customer's correction in one statement (no read-then-write
    race between two tabs)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(model).values(**values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=keys,
            set_={"category": values["category"], "updated_at": values["updated_at"]},
        )
    )


def set_category(
    session: Session,
    *,
    customer_id: int,
    entry_id: str,
    category: str,
    always: bool,
    at: datetime,
) -> EntryLine:
    """The customer's category for one of their statement lines, and with `always` for
    every line with the same counterparty. Someone else's line is refused as not found."""
    row = session.execute(
        select(Posting.id, Posting.counterparty_name, Posting.counterparty_account).where(
            Posting.public_id == entry_id,
            Posting.ledger_account_id.in_(_own_ledger_ids(customer_id)),
        )
    ).first()
    if row is None:  # ownership first: someone else's line is not found, whatever is sent
        raise DomainError("statement_line_not_found")
    if category not in CATEGORIES:
        raise DomainError("invalid_category")
    _upsert(
        session,
        EntryCategory,
        {"customer_id": customer_id, "posting_id": row.id, "category": category, "updated_at": at},
        ["customer_id", "posting_id"],
    )
    if always:
        _upsert(
            session,
            CounterpartyCategory,
            {
                "customer_id": customer_id,
                "counterparty_name": row.counterparty_name,
                "counterparty_account": row.counterparty_account,
                "category": category,
                "updated_at": at,
            },
            ["customer_id", "counterparty_name", "counterparty_account"],
        )
    return entry(session, customer_id=customer_id, entry_id=entry_id)


def rules_category(line: EntryLine) -> str:
    """What the rule table alone says about a line (shown beside a corrected one)."""
    return categorise(
        memo=line.memo,
        counterparty_name=line.counterparty_name,
        counterparty_account="x" if line.to_person else "",
        amount_minor=line.amount_minor,
    )


def first_account(session: Session, *, customer_id: int) -> str:
    """The customer's first account (the balance chart's default)."""
    found = session.scalar(
        select(Account.public_id)
        .where(Account.customer_id == customer_id)
        .order_by(Account.id)
        .limit(1)
    )
    if found is None:
        raise DomainError("account_not_found")
    return found
