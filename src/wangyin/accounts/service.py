"""Opening accounts and cards, and everything a customer reads about them."""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from wangyin.accounts.models import Account, Card
from wangyin.clock import BANK_TZ, as_utc, bank_day_bounds_utc
from wangyin.errors import DomainError
from wangyin.i18n import gettext
from wangyin.identity import validators
from wangyin.ids import new_public_id
from wangyin.ledger import service as ledger
from wangyin.ledger.models import JournalEntry, LedgerAccount, Posting
from wangyin.money import format_minor
from wangyin.security.fields import lookup_hash
from wangyin.security.masking import mask_account_number, mask_name

ACCOUNT_PREFIX = "621700"  # the bank's account-number range
CARD_BIN = "622688"  # the bank's debit-card BIN


def _luhn_number(prefix: str, length: int) -> str:
    body = prefix + "".join(str(secrets.randbelow(10)) for _ in range(length - len(prefix) - 1))
    return body + validators.luhn_check_digit(body)


def open_account(
    session: Session,
    *,
    customer_id: int,
    kind: str,
    currency: str,
    at: datetime,
    nickname: str = "",
    account_number: str | None = None,
    account_class: str = "I",
    bound_account_id: int | None = None,
) -> Account:
    """A new account with its ledger account. Class II and III accounts (银发〔2018〕16号)
    are bound to a class-I account of the same customer."""
    if account_class not in ("I", "II", "III") or (account_class != "I") != (
        bound_account_id is not None
    ):
        raise ValueError("a class II or III account needs its bound class-I account")
    number = account_number or _luhn_number(ACCOUNT_PREFIX, 19)
    ledger_account = ledger.open_account(
        session, code=f"CUST:{number}", currency=currency, kind="customer", at=at
    )
    account = Account(
        public_id=new_public_id(),
        account_number=number,
        customer_id=customer_id,
        ledger_account_id=ledger_account.id,
        kind=kind,
        currency=currency,
        status="active",
        nickname=nickname,
        opened_at=at,
        account_class=account_class,
        bound_account_id=bound_account_id,
    )
    session.add(account)
    session.flush()
    return account


def issue_card(
    session: Session, *, account: Account, at: datetime, number: str | None = None
) -> Card:
    card = Card(
        number=number or _luhn_number(CARD_BIN, 19),
        customer_id=account.customer_id,
        account_id=account.id,
        status="active",
        issued_at=at,
    )
    session.add(card)
    session.flush()
    return card


@dataclass(frozen=True)
class AccountView:
    public_id: str
    account_number: str
    kind: str
    currency: str
    status: str
    nickname: str
    balance_minor: int
    available_minor: int
    card_number: str | None
    account_class: str = "I"  # I, II or III (银发〔2018〕16号)

    @property
    def balance(self) -> str:
        return format_minor(self.balance_minor, self.currency)

    @property
    def available(self) -> str:
        return format_minor(self.available_minor, self.currency)


def _account_views(session: Session, query: Select[Account, LedgerAccount]) -> list[AccountView]:
    rows = session.execute(query).all()
    cards = dict(
        session.execute(
            select(Card.account_id, Card.number).where(
                Card.account_id.in_([a.id for a, _ in rows]), Card.status == "active"
            )
        ).all()
    )
    return [
        AccountView(
            public_id=account.public_id,
            account_number=account.account_number,
            kind=account.kind,
            currency=account.currency,
            status=account.status,
            nickname=account.nickname,
            balance_minor=la.balance_minor,
            available_minor=la.available_minor,
            card_number=cards.get(account.id),
            account_class=account.account_class,
        )
        for account, la in rows
    ]


def _with_ledger() -> Select[Account, LedgerAccount]:
    return select(Account, LedgerAccount).join(
        LedgerAccount, LedgerAccount.id == Account.ledger_account_id
    )


def list_accounts(session: Session, *, customer_id: int) -> list[AccountView]:
    return _account_views(
        session,
        _with_ledger()
        .where(Account.customer_id == customer_id)
        .order_by(Account.currency != "CNY", Account.currency, Account.kind, Account.id),
    )


def totals_by_currency(views: list[AccountView]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for view in views:
        totals[view.currency] = totals.get(view.currency, 0) + view.balance_minor
    return totals


def owned_account(session: Session, *, customer_id: int, account_public_id: str) -> Account:
    """The customer's own account, or 404 — another customer's id looks like no account."""
    account = session.scalars(select(Account).where(Account.public_id == account_public_id)).first()
    if account is None or account.customer_id != customer_id:
        raise DomainError("account_not_found")
    return account


def account_view(session: Session, *, customer_id: int, account_public_id: str) -> AccountView:
    account = owned_account(session, customer_id=customer_id, account_public_id=account_public_id)
    return _account_views(session, _with_ledger().where(Account.id == account.id))[0]


def find_by_number(session: Session, *, number: str) -> Account | None:
    """A payee is addressed by account number or by one of its debit-card numbers. Cards
    are looked up by their keyed hash first, so a typed card number never travels to the
    database (or its statement log) in clear."""
    number = "".join(number.split())
    card = session.scalars(select(Card).where(Card.number_hash == lookup_hash(number))).first()
    if card is not None:
        return session.get(Account, card.account_id)
    return session.scalars(select(Account).where(Account.account_number == number)).first()


# ---------------------------------------------------------------------------------------
# History


@dataclass(frozen=True)
class HistoryFilter:
    date_from: date | None = None
    date_to: date | None = None
    direction: str | None = None  # "in" | "out"
    min_amount_minor: int | None = None
    max_amount_minor: int | None = None

    def __post_init__(self) -> None:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise DomainError("invalid_date_range")


@dataclass(frozen=True)
class HistoryLine:
    id: str
    booked_at: datetime
    amount_minor: int
    currency: str
    balance_after_minor: int
    memo: str
    counterparty_name: str  # masked
    counterparty_account: str  # masked
    kind: str

    @property
    def direction(self) -> str:
        return "in" if self.amount_minor > 0 else "out"

    @property
    def amount(self) -> str:
        return format_minor(self.amount_minor, self.currency)

    @property
    def balance_after(self) -> str:
        return format_minor(self.balance_after_minor, self.currency)


def _history_query(account: Account, flt: HistoryFilter) -> Select[Posting, str]:
    query = (
        select(Posting, JournalEntry.kind)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(Posting.ledger_account_id == account.ledger_account_id)
    )
    if flt.date_from:
        query = query.where(Posting.created_at >= bank_day_bounds_utc(flt.date_from)[0])
    if flt.date_to:
        query = query.where(Posting.created_at < bank_day_bounds_utc(flt.date_to)[1])
    if flt.direction == "in":
        query = query.where(Posting.amount_minor > 0)
    elif flt.direction == "out":
        query = query.where(Posting.amount_minor < 0)
    if flt.min_amount_minor is not None:
        query = query.where(func.abs(Posting.amount_minor) >= flt.min_amount_minor)
    if flt.max_amount_minor is not None:
        query = query.where(func.abs(Posting.amount_minor) <= flt.max_amount_minor)
    return query


def _line(posting: Posting, kind: str) -> HistoryLine:
    return HistoryLine(
        id=posting.public_id,
        booked_at=as_utc(posting.created_at),
        amount_minor=posting.amount_minor,
        currency=posting.currency,
        balance_after_minor=posting.balance_after_minor,
        memo=posting.memo,
        # People are masked; merchants and billers (no account number here) are not.
        counterparty_name=(
            mask_name(posting.counterparty_name)
            if posting.counterparty_account
            else posting.counterparty_name
        ),
        counterparty_account=(
            mask_account_number(posting.counterparty_account)
            if posting.counterparty_account
            else ""
        ),
        kind=kind,
    )


@dataclass(frozen=True)
class HistoryPage:
    lines: list[HistoryLine]
    next_cursor: str | None


def history(
    session: Session,
    *,
    customer_id: int,
    account_public_id: str,
    flt: HistoryFilter,
    cursor: str | None = None,
    limit: int = 20,
) -> HistoryPage:
    """Newest first, keyset-paginated so a long history costs the same as a short one."""
    account = owned_account(session, customer_id=customer_id, account_public_id=account_public_id)
    query = _history_query(account, flt)
    if cursor:
        anchor = session.scalars(
            select(Posting.id).where(
                Posting.public_id == cursor,
                Posting.ledger_account_id == account.ledger_account_id,
            )
        ).first()
        if anchor is None:
            raise DomainError("validation_error")
        query = query.where(Posting.id < anchor)
    rows = session.execute(query.order_by(Posting.id.desc()).limit(limit + 1)).all()
    lines = [_line(posting, kind) for posting, kind in rows[:limit]]
    next_cursor = lines[-1].id if len(rows) > limit else None
    return HistoryPage(lines=lines, next_cursor=next_cursor)


CSV_HEADER = [
    "booked_at_utc",
    "direction",
    "amount",
    "currency",
    "balance_after",
    "counterparty",
    "counterparty_account",
    "memo",
    "id",
]


# The export a customer downloads from the history page: headers in their language and
# times in Beijing time, so a 00:30 payment shows on its own day (issue 9). The API's
# export keeps the machine header and UTC (CSV_HEADER).
CUSTOMER_CSV_HEADER = [
    "Time (Beijing)",
    "Direction",
    "Amount",
    "Currency",
    "Balance after",
    "Counterparty",
    "Counterparty account",
    "Remark",
    "Reference",
]
CUSTOMER_CSV_DIRECTIONS = {"in": "Money in", "out": "Money out"}


def history_csv(
    session: Session,
    *,
    customer_id: int,
    account_public_id: str,
    flt: HistoryFilter,
    lang: str | None = None,
) -> Iterator[str]:
    """Every matching line as CSV (UTF-8 with BOM so spreadsheet programs read Chinese);
    with `lang`, the customer's export (CUSTOMER_CSV_HEADER), else the API's."""
    account = owned_account(session, customer_id=customer_id, account_public_id=account_public_id)
    rows = session.execute(_history_query(account, flt).order_by(Posting.id.desc())).all()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    if lang is None:
        writer.writerow(CSV_HEADER)
    else:
        writer.writerow([gettext(text, lang) for text in CUSTOMER_CSV_HEADER])
    for posting, kind in rows:
        line = _line(posting, kind)
        if lang is None:
            booked, direction = line.booked_at.isoformat(), line.direction
        else:
            booked = line.booked_at.astimezone(BANK_TZ).strftime("%Y-%m-%d %H:%M:%S")
            direction = gettext(CUSTOMER_CSV_DIRECTIONS[line.direction], lang)
        writer.writerow(
            [
                booked,
                direction,
                line.amount,
                line.currency,
                line.balance_after,
                _csv_safe(line.counterparty_name),
                line.counterparty_account,
                _csv_safe(line.memo),
                line.id,
            ]
        )
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _csv_safe(text: str) -> str:
    """Neutralise spreadsheet formulas in customer-written text (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
