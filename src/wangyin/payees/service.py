"""The payee book: keyword-only actions on one customer's payees, each inside the caller's
unit of work. A cold path: the ORM and a few rows (at most `MAX_PAYEES` per customer).

Adding a payee by hand checks the number's shape only, never whether it exists or whose it
is: the book must not become an oracle for account numbers and names (prepare is one, and
counts its misses, issue 11 #12). The name is checked when the customer pays, as always.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from pypinyin import Style, lazy_pinyin
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from wangyin.accounts.models import Account, Card
from wangyin.errors import DomainError
from wangyin.identity.models import Customer
from wangyin.ids import new_public_id
from wangyin.money import format_grouped, format_minor, parse_amount
from wangyin.payees.models import Payee
from wangyin.payments import service as payments
from wangyin.payments.models import COMPLETED, TransferRequest
from wangyin.security import audit
from wangyin.security.audit import Client
from wangyin.security.fields import lookup_hash
from wangyin.security.masking import mask_account_number

MAX_PAYEES = 200
# Account numbers (19 digits here) and card numbers of any bank (16–19): digits only,
# spaces allowed when typed.
_NUMBER = re.compile(r"[0-9]{8,30}")


@dataclass(frozen=True)
class PayeeView:
    id: str
    name: str
    account_number: str
    masked_number: str
    nickname: str
    limit: str | None  # CNY, "5000.00"; None: no limit of its own
    limit_display: str | None  # "5,000.00"
    initials: str
    source: str
    last_paid_at: datetime | None
    created_at: datetime


def initials_of(name: str) -> str:
    """Lower-case pinyin initials of a Chinese name (张伟 -> "zw"); for other scripts the
    first letter of each word (Mary Smith -> "ms")."""
    letters = [
        syllable[0].lower()
        for syllable in lazy_pinyin(name, style=Style.FIRST_LETTER, errors="default")
        for syllable in syllable.split()
        if syllable and syllable[0].isalnum()
    ]
    return "".join(letters)[:50]


def normalize_number(number: str) -> str:
    digits = "".join(number.split())
    if not _NUMBER.fullmatch(digits):
        raise DomainError("validation_error")
    return digits


def parse_limit(text: str | None) -> int | None:
    """A per-payee limit in CNY: empty is none; otherwise a positive bounded amount."""
    if text is None or not text.strip():
        return None
    return parse_amount(text.strip(), "CNY")


def _account_of_number(s: Session, number: str) -> int | None:
    """Our account the number names (an account number, or a card of ours), or None. Used
    to link the payee to its history and limit; never told to the customer."""
    found = s.execute(
        select(Account.id).where(
            or_(
                Account.account_number == number,
                Account.id.in_(
                    select(Card.account_id).where(Card.number_hash == lookup_hash(number))
                ),
            )
        )
    ).first()
    return int(found[0]) if found else None


def _last_paid() -> object:
    """When the customer last paid the payee's account (completed transfers), correlated."""
    return (
        select(func.max(TransferRequest.confirmed_at))
        .where(
            TransferRequest.customer_id == Payee.customer_id,
            TransferRequest.to_account_id == Payee.account_id,
            TransferRequest.status == COMPLETED,
        )
        .correlate(Payee)
        .scalar_subquery()
    )


def _view(payee: Payee, last_paid_at: datetime | None) -> PayeeView:
    limit = payee.limit_minor
    return PayeeView(
        id=payee.public_id,
        name=payee.name,
        account_number=str(payee.number),
        masked_number=mask_account_number(str(payee.number)),
        nickname=payee.nickname,
        limit=None if limit is None else format_minor(limit, "CNY"),
        limit_display=None if limit is None else format_grouped(limit, "CNY"),
        initials=payee.initials,
        source=payee.source,
        last_paid_at=last_paid_at,
        created_at=payee.created_at,
    )


def matches(view: PayeeView, query: str) -> bool:
    """Name or nickname contains the query; pinyin initials start with it (zw -> 张伟);
    the account number ends with it (a tail of 3 or more digits)."""
    q = query.strip().lower()
    if not q:
        return True
    if q in view.name.lower() or (view.nickname and q in view.nickname.lower()):
        return True
    if q.isascii() and q.isalpha() and view.initials.startswith(q):
        return True
    return q.isdigit() and len(q) >= 3 and view.account_number.endswith(q)


def list_payees(s: Session, *, customer_id: int, query: str = "") -> list[PayeeView]:
    """The customer's payees, the most recently paid first, then the newest."""
    last_paid = _last_paid().label("last_paid_at")  # type: ignore[attr-defined]
    rows = s.execute(select(Payee, last_paid).where(Payee.customer_id == customer_id)).all()
    views = [_view(payee, paid) for payee, paid in rows]
    views.sort(key=lambda v: v.created_at, reverse=True)
    views.sort(
        key=lambda v: v.last_paid_at is not None and v.last_paid_at.timestamp(), reverse=True
    )
    return [v for v in views if matches(v, query)]


def _owned(s: Session, *, customer_id: int, payee_id: str, lock: bool = False) -> Payee:
    statement = select(Payee).where(Payee.public_id == payee_id, Payee.customer_id == customer_id)
    payee = s.execute(statement.with_for_update() if lock else statement).scalar_one_or_none()
    if payee is None:
        raise DomainError("payee_entry_not_found")
    return payee


def get_payee(s: Session, *, customer_id: int, payee_id: str) -> PayeeView:
    payee = _owned(s, customer_id=customer_id, payee_id=payee_id)
    return _view(payee, s.execute(select(_last_paid()).where(Payee.id == payee.id)).scalar())  # type: ignore[call-overload]


def _audit(
    s: Session,
    *,
    event: str,
    actor: str,
    customer_id: int,
    at: datetime,
    client: Client,
    payee: Payee,
) -> None:
    audit.append(
        s,
        event=event,
        outcome="success",
        actor=actor,
        at=at,
        client=client,
        customer_id=customer_id,
        details={"payee": payee.public_id, "account": mask_account_number(payee.number)},
    )


def add_payee(
    s: Session,
    *,
    customer_id: int,
    actor: str,
    name: str,
    number: str,
    nickname: str = "",
    limit_minor: int | None = None,
    at: datetime,
    client: Client,
    source: str = "manual",
    account_id: int | None = None,
) -> PayeeView:
    name = " ".join(name.split())
    number = normalize_number(number)
    if not name:
        raise DomainError("validation_error")
    # The count and the duplicate check are decided under the customer's row lock (rule 9).
    # NO KEY UPDATE: a transfer's insert only takes KEY SHARE on it, so none waits for this.
    s.execute(select(Customer.id).where(Customer.id == customer_id).with_for_update(key_share=True))
    existing = (
        s.execute(select(Payee.number_hash).where(Payee.customer_id == customer_id)).scalars().all()
    )
    if lookup_hash(number) in existing:
        raise DomainError("payee_already_saved")
    if len(existing) >= MAX_PAYEES:
        raise DomainError("payee_book_full", limit=MAX_PAYEES)
    payee = Payee(
        public_id=new_public_id(),
        customer_id=customer_id,
        name=name[:50],
        nickname=" ".join(nickname.split())[:50],
        limit_minor=limit_minor,
        initials=initials_of(name),
        source=source,
        created_at=at,
        account_id=account_id if account_id is not None else _account_of_number(s, number),
    )
    payee.number = number
    s.add(payee)
    s.flush()
    _audit(
        s,
        event="payee_added",
        actor=actor,
        customer_id=customer_id,
        at=at,
        client=client,
        payee=payee,
    )
    return _view(payee, None)


def save_from_transfer(
    s: Session,
    *,
    customer_id: int,
    actor: str,
    transfer_id: str,
    nickname: str = "",
    at: datetime,
    client: Client,
) -> PayeeView:
    """The payee of one of the customer's completed transfers, saved with one click (the
    click is the consent to keep a third party's name and number)."""
    transfer = payments.find_transfer(s, customer_id=customer_id, transfer_id=transfer_id)
    if transfer is None or transfer.status != COMPLETED:
        raise DomainError("transfer_not_found")
    return add_payee(
        s,
        customer_id=customer_id,
        actor=actor,
        name=transfer.payee_name,
        number=transfer.to_number,
        nickname=nickname,
        at=at,
        client=client,
        source="transfer",
        account_id=transfer.to_account_id,
    )


def update_payee(
    s: Session,
    *,
    customer_id: int,
    actor: str,
    payee_id: str,
    nickname: str,
    limit_minor: int | None,
    at: datetime,
    client: Client,
) -> PayeeView:
    payee = _owned(s, customer_id=customer_id, payee_id=payee_id, lock=True)
    payee.nickname = " ".join(nickname.split())[:50]
    payee.limit_minor = limit_minor
    s.flush()
    _audit(
        s,
        event="payee_changed",
        actor=actor,
        customer_id=customer_id,
        at=at,
        client=client,
        payee=payee,
    )
    return get_payee(s, customer_id=customer_id, payee_id=payee_id)


def remove_payee(
    s: Session, *, customer_id: int, actor: str, payee_id: str, at: datetime, client: Client
) -> None:
    payee = _owned(s, customer_id=customer_id, payee_id=payee_id, lock=True)
    _audit(
        s,
        event="payee_removed",
        actor=actor,
        customer_id=customer_id,
        at=at,
        client=client,
        payee=payee,
    )
    s.delete(payee)
    s.flush()


@dataclass(frozen=True)
class RecentPayee:
    """A payee of a recent completed transfer, for "transfer again" (再转一笔)."""

    transfer_id: str
    name: str
    account_number: str
    masked_number: str
    saved: bool


def recent_payees(s: Session, *, customer_id: int, limit: int = 5) -> list[RecentPayee]:
    saved = set(
        s.execute(
            select(Payee.account_id).where(
                Payee.customer_id == customer_id, Payee.account_id.is_not(None)
            )
        ).scalars()
    )
    seen: set[int] = set()
    found: list[RecentPayee] = []
    for transfer in payments.list_transfers(s, customer_id=customer_id, limit=50):
        if transfer.status != COMPLETED or transfer.to_account_id in seen:
            continue
        seen.add(transfer.to_account_id)
        found.append(
            RecentPayee(
                transfer_id=transfer.public_id,
                name=transfer.payee_name,
                account_number=transfer.to_number,
                masked_number=mask_account_number(transfer.to_number),
                saved=transfer.to_account_id in saved,
            )
        )
        if len(found) == limit:
            break
    return found
