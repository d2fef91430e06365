"""What the home page shows, read in one transaction from the ledger's postings."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wangyin.accounts import service as accounts
from wangyin.accounts.models import Account
from wangyin.clock import as_utc, bank_date, bank_day_bounds_utc
from wangyin.home import preferences, suggestions
from wangyin.ledger.models import JournalEntry, Posting
from wangyin.payees.models import Payee

# Shown to every customer (4.1.6-i): the frauds customers meet most, in plain words.
SECURITY_TIPS = (
    "The bank never asks for your password or SMS code by phone, text or chat.",
    "Never share the code we text you, not even with someone who says they are the bank.",
    "Check the payee's name and account before you confirm a transfer.",
    "Log out when you finish, and never bank on a public computer.",
)


RECENT_SHOWN = 5
RECENT_READ = 20


@dataclass(frozen=True)
class RecentLine:
    id: str
    booked_at: datetime
    amount_minor: int
    currency: str
    counterparty_name: str
    memo: str


@dataclass(frozen=True)
class FrequentPayee:
    public_id: str
    name: str
    number_tail: str
    transfers: int


@dataclass(frozen=True)
class Home:
    total_assets_cny_minor: int
    unrated_currencies: list[str]  # held but without a stated rate: left out of the total
    accounts: list[accounts.AccountView]
    recent: list[RecentLine]
    month_income_cny_minor: int
    month_spending_cny_minor: int
    frequent_payees: list[FrequentPayee]
    tips: tuple[str, ...]
    prefs: preferences.Preferences
    suggestions: list[suggestions.Suggestion]


def to_cny_minor(amount_minor: int, currency: str, rates: dict[str, str]) -> int | None:
    """Minor units of `currency` in CNY fen at the stated rate (None: no rate stated).
    Every currency we hold has two decimals, so minor units convert one to one."""
    rate = rates.get(currency)
    if rate is None:
        return None
    return int((Decimal(amount_minor) * Decimal(rate)).to_integral_value())


def home(
    session: Session,
    *,
    customer_id: int,
    user_id: int,
    now: datetime,
    rates: dict[str, str],
    can_transfer: bool = True,
) -> Home:
    views = accounts.list_accounts(session, customer_id=customer_id)
    total = 0
    unrated: list[str] = []
    for view in views:
        cny = to_cny_minor(view.balance_minor, view.currency, rates)
        if cny is None:
            unrated.append(view.currency)
        else:
            total += cny
    ledger_ids = list(
        session.scalars(select(Account.ledger_account_id).where(Account.customer_id == customer_id))
    )
    # The newest postings by id (the index), shown newest booking first: an entry booked
    # with an earlier date after others (an opening balance loaded late) keeps its place.
    newest = session.scalars(
        select(Posting)
        .where(Posting.ledger_account_id.in_(ledger_ids))
        .order_by(Posting.id.desc())
        .limit(RECENT_READ)
    ).all()
    recent_rows = sorted(newest, key=lambda p: (as_utc(p.created_at), p.id), reverse=True)
    recent_rows = recent_rows[:RECENT_SHOWN]
    recent = [
        RecentLine(
            id=p.public_id,
            booked_at=as_utc(p.created_at),
            amount_minor=p.amount_minor,
            currency=p.currency,
            # Accounts of people are masked on the accounts page; the home page shows no
            # names of people at all, only merchants' (no account number).
            counterparty_name="" if p.counterparty_account else p.counterparty_name,
            memo=p.memo,
        )
        for p in recent_rows
    ]
    today = bank_date(now)
    month_start = bank_day_bounds_utc(today.replace(day=1))[0]
    income = spending = 0
    for amount, currency in session.execute(
        select(Posting.amount_minor, Posting.currency)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(Posting.ledger_account_id.in_(ledger_ids), Posting.created_at >= month_start)
    ).all():
        cny = to_cny_minor(abs(amount), currency, rates) or 0
        if amount > 0:
            income += cny
        else:
            spending += cny
    return Home(
        total_assets_cny_minor=total,
        unrated_currencies=sorted(set(unrated)),
        accounts=views,
        recent=recent,
        month_income_cny_minor=income,
        month_spending_cny_minor=spending,
        frequent_payees=frequent_payees(session, customer_id=customer_id, ledger_ids=ledger_ids),
        tips=SECURITY_TIPS,
        prefs=preferences.read(session, customer_id=customer_id),
        suggestions=[
            s
            for s in suggestions.suggestions(
                session, customer_id=customer_id, user_id=user_id, ledger_ids=ledger_ids, now=now
            )
            if can_transfer or s.kind == "security"
        ],
    )


def frequent_payees(
    session: Session, *, customer_id: int, ledger_ids: list[int], limit: int = 3
) -> list[FrequentPayee]:
    """Saved payees ranked by how often this customer paid them ("transfer again", 5.2.3-c)."""
    payees = session.scalars(select(Payee).where(Payee.customer_id == customer_id)).all()
    if not payees:
        return []
    tails = {p.number_tail for p in payees}
    counts: Counter[str] = Counter()
    rows = session.execute(
        select(Posting.counterparty_account, func.count())
        .where(Posting.ledger_account_id.in_(ledger_ids), Posting.amount_minor < 0)
        .group_by(Posting.counterparty_account)
    ).all()
    for number, n in rows:
        if number and number[-4:] in tails:
            counts[number[-4:]] += n
    ranked = sorted(payees, key=lambda p: (-counts[p.number_tail], p.name))
    return [
        FrequentPayee(
            public_id=p.public_id,
            name=p.nickname or p.name,
            number_tail=p.number_tail,
            transfers=counts[p.number_tail],
        )
        for p in ranked[:limit]
    ]
