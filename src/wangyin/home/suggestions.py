"""Suggested functions from the customer's own history (5.2.3-c), each with the reason in
plain words: "transfer again" to a payee paid often, "make it a scheduled transfer" for
a payee paid about monthly without a schedule, and the security features never set up.
A few aggregate queries over the customer's own postings; nothing stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wangyin.accounts.models import Account
from wangyin.clock import as_utc
from wangyin.identity.models import User
from wangyin.ledger.models import Posting
from wangyin.payees.models import Payee
from wangyin.schedules import models as schedules
from wangyin.security.fields import lookup_hash

# How far back the history is read, and what counts as "about every month".
LOOKBACK = timedelta(days=190)
MONTHLY_MIN_PAYMENTS = 3
MONTHLY_GAP_DAYS = (20, 40)  # the average days between payments
AGAIN_MIN_PAYMENTS = 2
LIVE_SCHEDULES = (schedules.PENDING, schedules.ACTIVE, schedules.PAUSED)


@dataclass(frozen=True)
class Suggestion:
    kind: str  # transfer_again | schedule | security
    title: str  # English msgid, translated where shown
    why: str  # English msgid with {name}/{count} fields
    url: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Paid:
    number: str
    count: int
    first: datetime
    last: datetime


def _paid_numbers(session: Session, *, ledger_ids: list[int], since: datetime) -> list[_Paid]:
    """Each account number the customer paid since `since`: how often, first and last."""
    rows = session.execute(
        select(
            Posting.counterparty_account,
            func.count(),
            func.min(Posting.created_at),
            func.max(Posting.created_at),
        )
        .where(
            Posting.ledger_account_id.in_(ledger_ids),
            Posting.amount_minor < 0,
            Posting.counterparty_account != "",
            Posting.created_at >= since,
        )
        .group_by(Posting.counterparty_account)
    ).all()
    return [_Paid(n, c, as_utc(a), as_utc(b)) for n, c, a, b in rows if n]


def is_monthly(paid: _Paid) -> bool:
    if paid.count < MONTHLY_MIN_PAYMENTS:
        return False
    gap = (paid.last - paid.first).days / (paid.count - 1)
    return MONTHLY_GAP_DAYS[0] <= gap <= MONTHLY_GAP_DAYS[1]


def suggestions(
    session: Session, *, customer_id: int, user_id: int, ledger_ids: list[int], now: datetime
) -> list[Suggestion]:
    found: list[Suggestion] = []
    paid = _paid_numbers(session, ledger_ids=ledger_ids, since=now - LOOKBACK)
    payees = {
        p.number_hash: p
        for p in session.scalars(select(Payee).where(Payee.customer_id == customer_id))
    }
    plan = schedules.ScheduledTransfer
    scheduled = set(
        session.scalars(
            select(Account.account_number)
            .join(plan, plan.to_account_id == Account.id)
            .where(plan.customer_id == customer_id, plan.status.in_(LIVE_SCHEDULES))
        )
    )
    again: list[tuple[int, Suggestion]] = []
    for item in sorted(paid, key=lambda p: -p.count):
        payee = payees.get(lookup_hash(item.number)) if payees else None
        if payee is None:
            continue  # only the customer's own saved payees are named
        name = payee.nickname or payee.name
        if is_monthly(item) and item.number not in scheduled:
            found.append(
                Suggestion(
                    "schedule",
                    "Make it a scheduled transfer",
                    "Because you transfer to {name} every month",
                    "/transfer/schedules/new",
                    {"name": name},
                )
            )
        elif item.count >= AGAIN_MIN_PAYMENTS:
            again.append(
                (
                    item.count,
                    Suggestion(
                        "transfer_again",
                        "Transfer again",
                        "Because you transferred to {name} {count} times lately",
                        f"/transfer?payee={payee.public_id}",
                        {"name": name, "count": str(item.count)},
                    ),
                )
            )
    found.extend(s for _, s in again[:2])
    found.extend(_security(session, user_id=user_id))
    return found


def _security(session: Session, *, user_id: int) -> list[Suggestion]:
    """Security features this customer never set up (4.1.6-i): a tip each."""
    row = session.execute(
        select(User.transaction_pin_hash, User.single_limit_minor, User.daily_limit_minor).where(
            User.id == user_id
        )
    ).one_or_none()
    if row is None:
        return []
    pin, single, daily = row
    tips = []
    if not pin:
        tips.append(
            Suggestion(
                "security",
                "Set a transaction password",
                "Because you have none yet: it guards every transfer you confirm",
                "/security/transaction-password",
            )
        )
    if single is None and daily is None:
        tips.append(
            Suggestion(
                "security",
                "Lower your transfer limits",
                "Because you still have the bank's default limits: lower ones cap any loss",
                "/security/limits",
            )
        )
    return tips
