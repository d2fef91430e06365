"""Intra-bank transfers: prepare -> confirm, in explicit SQL (the hot path, rule 10).

Prepare validates everything and fixes the key data the customer confirms; confirm
re-checks what may have changed since (balances, limits, account states) and posts one
journal entry, exactly once. Locks are taken in one order everywhere:
transfer request -> user -> ledger accounts (ascending id). Every refusal is decided
before the first write, so the caller can commit its bookkeeping of a refusal (the
idempotency record, the audit record, a counted wrong PIN) in the same transaction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from functools import cache
from typing import Any

from sqlalchemy import (
    Select,
    String,
    bindparam,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from wangyin.accounts.models import Account, Card
from wangyin.accounts.service import CARD_BIN
from wangyin.clock import BANK_TZ, as_utc, bank_date
from wangyin.config import Settings
from wangyin.db import defer_write, is_sqlite, read_together, table_of
from wangyin.errors import DomainError
from wangyin.fraud import engine as fraud
from wangyin.fraud import service as fraud_holds
from wangyin.i18n import gettext
from wangyin.identity import otp
from wangyin.identity import service as identity_pins
from wangyin.identity.models import Customer, User
from wangyin.identity.passwords import rehash_if_needed, verify_password
from wangyin.identity.security_center import effective_limits
from wangyin.identity.service import customer_of_token, token_hash
from wangyin.ids import new_public_id
from wangyin.ledger import service as ledger
from wangyin.ledger.models import LedgerAccount
from wangyin.ledger.service import VerifyReport
from wangyin.money import exponent, format_grouped, format_minor, parse_amount
from wangyin.notify import service as notify
from wangyin.payees.models import Payee
from wangyin.payments.models import COMPLETED, EXPIRED, PENDING, TransferRequest
from wangyin.security import audit, ratelimit
from wangyin.security.audit import Client
from wangyin.security.fields import lookup_hash
from wangyin.security.masking import mask_account_number, mask_name
from wangyin.security.ratelimit import RateLimitCounter


def key_data(
    *,
    from_number: str,
    to_number: str,
    payee_name: str,
    amount_minor: int,
    currency: str,
    created_at: datetime,
) -> dict[str, str]:
    """The fields the customer confirms; their digest is what a second factor signs."""
    return {
        "from": from_number,
        "to": to_number,
        "payee_name": payee_name,
        "amount": format_minor(amount_minor, currency),
        "currency": currency,
        "time": as_utc(created_at).replace(microsecond=0).isoformat(),
    }


@dataclass
class TransferRow:
    """A transfer request with what its views and checks need, read in one statement."""

    id: int
    public_id: str
    customer_id: int
    user_id: int
    from_account_id: int
    to_account_id: int
    from_public_id: str
    from_number: str
    to_number: str
    payee_name: str
    amount_minor: int
    currency: str
    remark: str
    status: str
    key_digest: str
    created_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None = None
    confirmed_with: str = ""
    journal_entry_id: int | None = None
    # Known when prepared or confirmed; None: ask `password_free_eligible`.
    second_factor_required: bool | None = None
    warnings: str = ""  # to acknowledge at confirm: large_amount, new_payee


_TRANSFERS = table_of(TransferRequest)
_ACCOUNTS = table_of(Account)
_PAYEES = table_of(Payee)
_LEDGER = table_of(LedgerAccount)
_USERS = table_of(User)
_CUSTOMERS = table_of(Customer)
_CARDS = table_of(Card)


@dataclass(frozen=True)
class LimitState:
    """A user's limits and today's counters (CNY minor units), from the user row."""

    single_limit_minor: int | None
    daily_limit_minor: int | None
    password_free_single_minor: int
    password_free_daily_minor: int
    day_date: str
    day_total_cny_minor: int
    day_password_free_cny_minor: int
    day_others_cny_minor: int = 0

    def used_today(self, at: datetime) -> tuple[int, int]:
        """(total, password-free) already confirmed on the bank day of `at`."""
        if self.day_date != bank_date(at).isoformat():
            return 0, 0
        return self.day_total_cny_minor, self.day_password_free_cny_minor

    def to_others_today(self, at: datetime) -> int:
        """What went to other people's accounts on the bank day of `at`."""
        return self.day_others_cny_minor if self.day_date == bank_date(at).isoformat() else 0


LIMIT_COLUMNS = (
    _USERS.c.single_limit_minor,
    _USERS.c.daily_limit_minor,
    _USERS.c.password_free_single_minor,
    _USERS.c.password_free_daily_minor,
    _USERS.c.day_date,
    _USERS.c.day_total_cny_minor,
    _USERS.c.day_password_free_cny_minor,
    _USERS.c.day_others_cny_minor,
)


def limit_state_of(row: Any) -> LimitState:
    return LimitState(
        single_limit_minor=row.single_limit_minor,
        daily_limit_minor=row.daily_limit_minor,
        password_free_single_minor=row.password_free_single_minor,
        password_free_daily_minor=row.password_free_daily_minor,
        day_date=row.day_date,
        day_total_cny_minor=row.day_total_cny_minor,
        day_password_free_cny_minor=row.day_password_free_cny_minor,
        day_others_cny_minor=row.day_others_cny_minor,
    )


# Hot-path statements are built once and executed with fresh parameters: building a
# statement object (and its cache key) per request was most of the path's CPU.
_LIMITS_OF_USER = select(*LIMIT_COLUMNS).where(_USERS.c.id == bindparam("user_id"))
_PUBLIC_ID_OF_USER = select(_USERS.c.public_id).where(_USERS.c.id == bindparam("user_id"))


def read_limit_state(session: Session, *, user_id: int) -> LimitState:
    return limit_state_of(session.execute(_LIMITS_OF_USER, {"user_id": user_id}).one())


def to_cny_minor(amount_minor: int, currency: str, settings: Settings) -> int:
    """What an amount counts against the CNY limits: at the stated rate, rounded up."""
    if currency == "CNY":
        return amount_minor
    rate = Decimal(settings.limit_cny_rates.get(currency, "0"))
    if rate <= 0:
        raise DomainError("unknown_currency", currency=currency)
    places = Decimal(10) ** (exponent("CNY") - exponent(currency))
    return int((Decimal(amount_minor) * rate * places).to_integral_value(ROUND_CEILING))


def check_limits(
    limits_state: LimitState, *, amount_minor: int, currency: str, at: datetime, settings: Settings
) -> int:
    """The customer's own limits within the bank's maxima, in CNY (other currencies at the
    stated rates). Returns the amount in CNY minor units."""
    limits = effective_limits(limits_state, settings)
    cny = to_cny_minor(amount_minor, currency, settings)
    if cny > limits.single_minor:
        raise DomainError("over_single_limit", limit=format_grouped(limits.single_minor, "CNY"))
    remaining = limits.daily_minor - limits_state.used_today(at)[0]
    if cny > remaining:
        raise DomainError("over_daily_limit", remaining=format_grouped(max(remaining, 0), "CNY"))
    return cny


def is_password_free(
    limits_state: LimitState, *, amount_cny_minor: int, at: datetime, settings: Settings
) -> bool:
    """Small password-free payment: under the customer's per-transfer threshold and, with
    what was already paid password-free today, under the daily one (both in CNY)."""
    limits = effective_limits(limits_state, settings)
    if amount_cny_minor > limits.password_free_single_minor:
        return False
    used = limits_state.used_today(at)[1]
    return used + amount_cny_minor <= limits.password_free_daily_minor


# --- the rules of the non-counter channel (银发〔2016〕261号, 〔2018〕16号; issue 6 §6) -------

CLASS_COLUMNS = (
    _ACCOUNTS.c.account_class,
    _ACCOUNTS.c.bound_account_id,
    _ACCOUNTS.c.class_day,
    _ACCOUNTS.c.class_day_in_minor,
    _ACCOUNTS.c.class_day_out_minor,
    _ACCOUNTS.c.class_year,
    _ACCOUNTS.c.class_year_in_minor,
    _ACCOUNTS.c.class_year_out_minor,
)
# Read after the ledger rows are locked (the same round trip, later in the pipeline): the
# counters are written under those locks only, so they are current when read here.
_CLASS_COUNTERS = select(_ACCOUNTS.c.id, *CLASS_COLUMNS).where(
    _ACCOUNTS.c.id.in_([bindparam("class_a"), bindparam("class_b")])
)
_UPDATE_CLASS_COUNTERS = update(_ACCOUNTS).where(_ACCOUNTS.c.id == bindparam("account_row"))


def class_limits_apply(source: Any, payee: Any) -> bool:
    """A class II or III account is a party, and the other party is not its bound
    class-I account (between those two nothing is limited)."""
    if source.account_class == "I" and payee.account_class == "I":
        return False
    return not (source.bound_account_id == payee.id or payee.bound_account_id == source.id)


def _class_caps(account_class: str, settings: Settings) -> tuple[int, int]:
    if account_class == "II":
        return settings.class_ii_daily_minor, settings.class_ii_yearly_minor
    return settings.class_iii_daily_minor, settings.class_iii_yearly_minor


def _counted(account: Any, at: datetime, direction: str) -> tuple[int, int]:
    """(today, this year) already counted in `direction` ("in" or "out")."""
    day = bank_date(at)
    today = getattr(account, f"class_day_{direction}_minor")
    year = getattr(account, f"class_year_{direction}_minor")
    return (
        today if account.class_day == day.isoformat() else 0,
        year if account.class_year == day.year else 0,
    )


def check_account_classes(
    source: Any,
    payee: Any,
    *,
    amount_cny: int,
    payee_balance_after: int,
    at: datetime,
    settings: Settings,
) -> list[dict[str, Any]]:
    """The class II/III limits of both parties (CNY); returns the counter updates to
    write, or refuses. `source` and `payee` carry CLASS_COLUMNS and `id`."""
    ceiling = settings.class_iii_balance_max_minor
    if payee.account_class == "III" and payee_balance_after > ceiling:
        raise DomainError(
            "payee_class_limit",
            limit=format_grouped(settings.class_iii_balance_max_minor, "CNY"),
        )
    if not class_limits_apply(source, payee):
        return []
    day = bank_date(at)
    updates = []
    sides = ((source, "out", "class_limit"), (payee, "in", "payee_class_limit"))
    for account, direction, code in sides:
        if account.account_class not in ("II", "III"):
            continue
        daily, yearly = _class_caps(account.account_class, settings)
        today, year = _counted(account, at, direction)
        if today + amount_cny > daily:
            raise DomainError(code, limit=format_grouped(daily, "CNY"))
        if year + amount_cny > yearly:
            raise DomainError(code, limit=format_grouped(yearly, "CNY"))
        other = "in" if direction == "out" else "out"
        other_today, other_year = _counted(account, at, other)
        updates.append(
            {
                "account_row": account.id,
                "class_day": day.isoformat(),
                "class_year": day.year,
                f"class_day_{direction}_minor": today + amount_cny,
                f"class_year_{direction}_minor": year + amount_cny,
                f"class_day_{other}_minor": other_today,
                f"class_year_{other}_minor": other_year,
            }
        )
    return updates


def check_certificate_rule(
    limits_state: LimitState, *, to_own: bool, amount_cny: int, at: datetime, settings: Settings
) -> int:
    """Personal transfers to others above the day's no-certificate ceiling need a digital
    certificate or electronic signature, which this channel does not offer yet: refused
    with the ways to more (the counter, a certificate). Returns today's to-others total
    with this transfer. A certificate-signed confirmation will pass `to_own=True`-like
    exemption here once certificates exist."""
    others = limits_state.to_others_today(at)
    if to_own:
        return others
    if others + amount_cny > settings.no_certificate_daily_max_minor:
        raise DomainError(
            "certificate_required",
            limit=format_grouped(settings.no_certificate_daily_max_minor, "CNY"),
        )
    return others + amount_cny


def warnings_for(
    limits_state: LimitState,
    *,
    to_own: bool,
    paid_before: bool,
    amount_cny: int,
    at: datetime,
    settings: Settings,
) -> str:
    """What the customer must acknowledge before confirming (comma-separated)."""
    found = []
    if limits_state.used_today(at)[0] + amount_cny > settings.large_transfer_reminder_minor:
        found.append("large_amount")
    if not to_own and not paid_before and amount_cny > settings.new_payee_warning_minor:
        found.append("new_payee")
    return ",".join(found)


def _check_parties(source: Any, payee: Any, *, currency: str) -> None:
    if source.status != "active":
        raise DomainError("account_inactive")
    if payee.id == source.id:
        raise DomainError("same_account")
    if payee.status != "active":
        raise DomainError("payee_inactive")
    if source.currency != currency or payee.currency != currency:
        raise DomainError("currency_mismatch", currency=currency)


def prepare(
    session: Session,
    *,
    customer_id: int,
    user_id: int,
    from_account_id: str,
    to_account_number: str,
    payee_name: str,
    amount: str,
    currency: str,
    remark: str,
    at: datetime,
    settings: Settings,
    client: Client | None = None,
    user_public_id: str | None = None,
    limits_state: LimitState | None = None,
    parties: list[Any] | None = None,
    payee_misses: list[Any] | None = None,
) -> TransferRow:
    """Validate and fix the key data: one read of both accounts (`parties`, when the use
    case read them together with the session: `parties_read`), the transfer row, the
    audit record. Every refusal comes before the first write."""
    client = client or Client()
    currency = currency.strip().upper()
    amount_minor = parse_amount(amount, currency)
    number = "".join(to_account_number.split())
    # What the caller did not read with its session (a use case without one: a standing
    # instruction, the benchmark), read here together, in one round trip.
    missing: dict[str, tuple[Any, dict[str, Any]]] = {}
    if payee_misses is None:
        missing["misses"] = payee_misses_read(customer_id=customer_id)
    if parties is None:
        missing["parties"] = parties_read(from_account_id, to_account_number)
    if limits_state is None:
        missing["limits"] = (_LIMITS_OF_USER, {"user_id": user_id})
    if user_public_id is None:
        missing["user"] = (_PUBLIC_ID_OF_USER, {"user_id": user_id})
    found = (
        dict(zip(missing, read_together(session, list(missing.values())), strict=True))
        if missing
        else {}
    )
    if "limits" in found:
        limits_state = limit_state_of(found["limits"][0])
    if "user" in found:
        user_public_id = str(found["user"][0].public_id)
    payee_misses = found.get("misses", payee_misses) or []
    _refuse_after_payee_misses(payee_misses, at=at)
    rows = found.get("parties", parties) or []
    source = next(
        (r for r in rows if r.public_id == from_account_id and r.customer_id == customer_id), None
    )
    if source is None:
        raise DomainError("account_not_found")
    payee = next((r for r in rows if r.by_card), None) or next(
        (r for r in rows if r.account_number == number), None
    )
    if payee is None:
        _count_payee_miss(session, customer_id=customer_id, at=at)
        raise DomainError("payee_not_found")
    _check_parties(source, payee, currency=currency)
    payee_name = " ".join(payee_name.split())
    if payee_name != payee.name:
        _count_payee_miss(session, customer_id=customer_id, at=at)
        raise DomainError("payee_name_mismatch")
    if amount_minor > source.available:
        raise DomainError("insufficient_funds")
    assert limits_state is not None and user_public_id is not None  # noqa: S101 - read above
    amount_cny = check_limits(
        limits_state, amount_minor=amount_minor, currency=currency, at=at, settings=settings
    )
    if payee.payee_limit is not None and amount_cny > payee.payee_limit:
        raise DomainError("over_payee_limit", limit=format_grouped(payee.payee_limit, "CNY"))
    # The channel's rules, seen early (confirm decides them again under the locks).
    to_own = payee.customer_id == customer_id
    check_certificate_rule(
        limits_state, to_own=to_own, amount_cny=amount_cny, at=at, settings=settings
    )
    check_account_classes(
        source,
        payee,
        amount_cny=amount_cny,
        payee_balance_after=payee.balance + amount_minor,
        at=at,
        settings=settings,
    )
    warnings = warnings_for(
        limits_state,
        to_own=to_own,
        paid_before=bool(payee.paid_before),
        amount_cny=amount_cny,
        at=at,
        settings=settings,
    )

    created = at.replace(microsecond=0)
    transfer = TransferRow(
        id=0,
        public_id=new_public_id(),
        customer_id=customer_id,
        user_id=user_id,
        from_account_id=source.id,
        to_account_id=payee.id,
        from_public_id=source.public_id,
        from_number=source.account_number,
        to_number=payee.account_number,
        payee_name=payee_name,
        amount_minor=amount_minor,
        currency=currency,
        remark=remark.strip()[:100],
        status=PENDING,
        key_digest="",
        created_at=created,
        expires_at=created + timedelta(seconds=settings.transfer_confirm_seconds),
        second_factor_required=not is_password_free(
            limits_state, amount_cny_minor=amount_cny, at=at, settings=settings
        ),
        warnings=warnings,
    )
    transfer.key_digest = _digest_of(transfer)
    defer_write(
        session,
        _INSERT_TRANSFER,
        {
            "public_id": transfer.public_id,
            "customer_id": customer_id,
            "user_id": user_id,
            "from_account_id": source.id,
            "to_account_id": payee.id,
            "payee_name": payee_name,
            "amount_minor": amount_minor,
            "currency": currency,
            "remark": transfer.remark,
            "status": PENDING,
            "key_digest": transfer.key_digest,
            "created_at": created,
            "expires_at": transfer.expires_at,
            "ip": client.ip[:64],
            "device_id": client.device_id[:80],
            "client_type": client.client_type[:16],
            "os_version": client.os_version[:80],
            "user_agent": client.user_agent[:300],
            "confirmed_with": "",
            "warnings": warnings,
        },
    )
    # The chain's head is locked after the insert went out, in the same round trip: the
    # insert's foreign-key checks may wait for other transactions, never while holding it.
    audit.hold_head(
        session, read_together(session, [(_LOCK_HEAD_OF_CUSTOMER, {"customer_id": customer_id})])[0]
    )
    audit.append(
        session,
        event="transfer_prepared",
        outcome="success",
        actor=user_public_id,
        at=at,
        client=client,
        customer_id=customer_id,
        details=_audit_details(transfer),
    )
    return transfer


_INSERT_TRANSFER = insert(_TRANSFERS)

# Prepare says whether an account number exists and whether a name is its holder's: an
# enumeration oracle (issue 11 #12). Each customer may miss a payee so many times an hour;
# past that, prepare is refused until the window ends. Counted with the refusal (kept by
# the idempotency layer); read on every prepare in the round trip of the session look-up.
PAYEE_MISSES_PER_HOUR = 10
_PAYEE_MISS = "account:payee_miss:"
_COUNTERS = table_of(RateLimitCounter)
_MISSES_OF_TOKEN = select(_COUNTERS.c.count, _COUNTERS.c.expires_at).where(
    _COUNTERS.c.key == literal(_PAYEE_MISS) + cast(customer_of_token(), String)
)
_MISSES_BY_KEY = select(_COUNTERS.c.count, _COUNTERS.c.expires_at).where(
    _COUNTERS.c.key == bindparam("key")
)


def payee_misses_read(
    *, token: str | None = None, customer_id: int | None = None
) -> tuple[Any, dict[str, Any]]:
    """The customer's payee misses this hour (by the caller's token, or by customer)."""
    if token is not None:
        return _MISSES_OF_TOKEN, {"token_hash": token_hash(token)}
    return _MISSES_BY_KEY, {"key": f"{_PAYEE_MISS}{customer_id}"}


def _refuse_after_payee_misses(rows: list[Any], *, at: datetime) -> None:
    if rows and rows[0].count >= PAYEE_MISSES_PER_HOUR and as_utc(rows[0].expires_at) > at:
        wait = (as_utc(rows[0].expires_at) - as_utc(at)).total_seconds()
        raise DomainError("rate_limited", retry_after=max(1, math.ceil(wait)))


def _count_payee_miss(session: Session, *, customer_id: int, at: datetime) -> None:
    ratelimit.count(session, key=f"{_PAYEE_MISS}{customer_id}", window_seconds=3600, at=at)


def parties_read(from_account_id: str, to_account_number: str) -> tuple[Any, dict[str, Any]]:
    """The paying account and the payee, as a statement and its parameters. A payee is
    addressed by account number or by one of its debit-card numbers; cards are looked up by
    their keyed hash, so a number in our card range reaches the database only as that."""
    number = "".join(to_account_number.split())
    return _parties_query(by_number=not number.startswith(CARD_BIN)), {
        "from_account_id": from_account_id,
        "number": number,
        "card_hash": lookup_hash(number),
    }


@cache
def _parties_query(*, by_number: bool) -> Select[Any]:
    """The paying account (by public id) and the payee (by card hash, or by number), with
    the available balance and the holder's name: one statement for prepare."""
    card_account = (
        select(_CARDS.c.account_id).where(_CARDS.c.number_hash == bindparam("card_hash"))
    ).scalar_subquery()
    matches = [
        _ACCOUNTS.c.public_id == bindparam("from_account_id"),
        _ACCOUNTS.c.id == card_account,
    ]
    if by_number:
        matches.append(_ACCOUNTS.c.account_number == bindparam("number"))
    # The payer's own ceiling for this payee, if the account is in their payee book (issue
    # 6 §3): read in the same statement, so the book costs prepare no round trip.
    payer = _ACCOUNTS.alias("payer")
    payee_limit = (
        select(func.min(_PAYEES.c.limit_minor))
        .where(
            _PAYEES.c.account_id == _ACCOUNTS.c.id,
            _PAYEES.c.customer_id
            == select(payer.c.customer_id)
            .where(payer.c.public_id == bindparam("from_account_id"))
            .scalar_subquery(),
        )
        .correlate(_ACCOUNTS)
        .scalar_subquery()
    )
    # Whether the payer has paid this account before (a large first payment is warned of):
    # one such transfer, not how many (that grew with the history), probed per account by
    # ix_transfer_requests_customer_payee. (LIMIT 1, not EXISTS: PostgreSQL may run an
    # EXISTS as a hashed subplan over all of the customer's transfers.)
    paid_before = (
        select(literal(1))
        .where(
            _TRANSFERS.c.customer_id
            == select(payer.c.customer_id)
            .where(payer.c.public_id == bindparam("from_account_id"))
            .scalar_subquery(),
            _TRANSFERS.c.to_account_id == _ACCOUNTS.c.id,
            _TRANSFERS.c.status == COMPLETED,
        )
        .limit(1)
        .correlate(_ACCOUNTS)
        .scalar_subquery()
        .is_not(None)
    )
    return (
        select(
            _ACCOUNTS.c.id,
            _ACCOUNTS.c.public_id,
            _ACCOUNTS.c.account_number,
            _ACCOUNTS.c.customer_id,
            _ACCOUNTS.c.currency,
            _ACCOUNTS.c.status,
            (_LEDGER.c.balance_minor - _LEDGER.c.held_minor).label("available"),
            _CUSTOMERS.c.name,
            func.coalesce(_ACCOUNTS.c.id == card_account, False).label("by_card"),
            payee_limit.label("payee_limit"),
            paid_before.label("paid_before"),
            _LEDGER.c.balance_minor.label("balance"),
            *CLASS_COLUMNS,
        )
        .join(_LEDGER, _LEDGER.c.id == _ACCOUNTS.c.ledger_account_id)
        .join(_CUSTOMERS, _CUSTOMERS.c.id == _ACCOUNTS.c.customer_id)
        .where(or_(*matches))
    )


def _digest_of(transfer: TransferRow) -> str:
    return ledger.request_digest(
        key_data(
            from_number=transfer.from_number,
            to_number=transfer.to_number,
            payee_name=transfer.payee_name,
            amount_minor=transfer.amount_minor,
            currency=transfer.currency,
            created_at=transfer.created_at,
        )
    )


def _audit_details(transfer: TransferRow) -> dict[str, str]:
    """Enough to reconstruct the operation (4.4-c2); account numbers are masked."""
    return {
        "transfer": transfer.public_id,
        "from": mask_account_number(transfer.from_number),
        "to": mask_account_number(transfer.to_number),
        "amount": format_minor(transfer.amount_minor, transfer.currency),
        "currency": transfer.currency,
        "digest": transfer.key_digest,
    }


def password_free_eligible(
    session: Session, *, transfer: TransferRow, at: datetime, settings: Settings
) -> bool:
    """Would this pending transfer be confirmed without password and code right now?"""
    return is_password_free(
        read_limit_state(session, user_id=transfer.user_id),
        amount_cny_minor=to_cny_minor(transfer.amount_minor, transfer.currency, settings),
        at=at,
        settings=settings,
    )


def send_code(
    session: Session,
    *,
    customer_id: int,
    transfer_id: str,
    channel: str,
    client: Client,
    at: datetime,
    settings: Settings,
) -> None:
    """A code bound to this transfer's key data: the SMS names payee tail and amount."""
    transfer = get_transfer(session, customer_id=customer_id, transfer_id=transfer_id)
    if transfer.status != PENDING or at >= as_utc(transfer.expires_at):
        raise DomainError("transfer_not_pending")
    user = session.get_one(User, transfer.user_id)
    otp.issue(
        session,
        user=user,
        purpose="transfer",
        binding=transfer.key_digest,
        channel=channel,
        at=at,
        settings=settings,
        message_fields={
            "tail": transfer.to_number[-4:],
            "amount": format_minor(transfer.amount_minor, transfer.currency),
            "currency": transfer.currency,
        },
        client=client,
        audit_details={"transfer": transfer.public_id},
    )


_SOURCE = _ACCOUNTS.alias("source")
_PAYEE = _ACCOUNTS.alias("payee")
_PAYEE_HOLDER = _CUSTOMERS.alias("payee_holder")


def _transfer_query(*, with_payee_contact: bool = False) -> Any:
    query = (
        select(
            _TRANSFERS,
            _SOURCE.c.public_id.label("from_public_id"),
            _SOURCE.c.account_number.label("from_number"),
            _SOURCE.c.ledger_account_id.label("from_ledger_id"),
            _SOURCE.c.status.label("from_status"),
            _SOURCE.c.currency.label("from_currency"),
            _PAYEE.c.account_number.label("to_number"),
            _PAYEE.c.ledger_account_id.label("to_ledger_id"),
            _PAYEE.c.status.label("to_status"),
            _PAYEE.c.currency.label("to_currency"),
            _PAYEE.c.customer_id.label("to_customer_id"),
            _SOURCE.c.account_class.label("from_class"),
            _SOURCE.c.bound_account_id.label("from_bound"),
            _PAYEE.c.account_class.label("to_class"),
            _PAYEE.c.bound_account_id.label("to_bound"),
        )
        .join(_SOURCE, _SOURCE.c.id == _TRANSFERS.c.from_account_id)
        .join(_PAYEE, _PAYEE.c.id == _TRANSFERS.c.to_account_id)
    )
    if with_payee_contact:
        query = query.add_columns(_PAYEE_HOLDER.c.mobile.label("payee_mobile")).join(
            _PAYEE_HOLDER, _PAYEE_HOLDER.c.id == _PAYEE.c.customer_id
        )
    return query


def _row_to_transfer(row: Any) -> TransferRow:
    return TransferRow(
        id=row.id,
        public_id=row.public_id,
        customer_id=row.customer_id,
        user_id=row.user_id,
        from_account_id=row.from_account_id,
        to_account_id=row.to_account_id,
        from_public_id=row.from_public_id,
        from_number=row.from_number,
        to_number=row.to_number,
        payee_name=row.payee_name,
        amount_minor=row.amount_minor,
        currency=row.currency,
        remark=row.remark,
        status=row.status,
        key_digest=row.key_digest,
        created_at=row.created_at,
        expires_at=row.expires_at,
        confirmed_at=row.confirmed_at,
        confirmed_with=row.confirmed_with,
        journal_entry_id=row.journal_entry_id,
        warnings=row.warnings,
    )


_LOCK_TRANSFER = (
    _transfer_query(with_payee_contact=True)
    .where(_TRANSFERS.c.public_id == bindparam("transfer_id"))
    .with_for_update(of=_TRANSFERS)
)
# The same, only if the `token_hash` parameter's session belongs to the transfer's
# customer: read together with the session look-up, it locks nothing for anyone else.
_LOCK_TRANSFER_OF_TOKEN = (
    _transfer_query(with_payee_contact=True)
    .where(
        _TRANSFERS.c.public_id == bindparam("transfer_id"),
        _TRANSFERS.c.customer_id == customer_of_token(),
    )
    .with_for_update(of=_TRANSFERS)
)
_LOCK_HEAD_OF_CUSTOMER = audit.lock_head_query(bindparam("customer_id"))


def transfer_lock_read(transfer_id: str, *, token: str) -> tuple[Any, dict[str, Any]]:
    """Lock the caller's transfer, in the round trip of the session look-up (`confirm`'s
    `locked_transfer`)."""
    return _LOCK_TRANSFER_OF_TOKEN, {"transfer_id": transfer_id, "token_hash": token_hash(token)}


_LOCK_USER = (
    select(
        _USERS.c.public_id,
        _USERS.c.freeze,
        _USERS.c.status,
        _USERS.c.edition,
        _USERS.c.transaction_pin_hash,
        _USERS.c.failed_pins,
        *LIMIT_COLUMNS,
        _CUSTOMERS.c.name.label("payer_name"),
        _CUSTOMERS.c.mobile.label("payer_mobile"),
    )
    .join(_CUSTOMERS, _CUSTOMERS.c.id == _USERS.c.customer_id)
    .where(_USERS.c.id == bindparam("user_id"))
    # NO KEY UPDATE: the counters change, never the key, so other transactions' foreign-key
    # checks on this user (a transfer prepared meanwhile) do not wait for this one.
    .with_for_update(of=_USERS, key_share=True)
)
_UPDATE_TRANSFER = update(_TRANSFERS).where(_TRANSFERS.c.id == bindparam("transfer_row"))


def user_lock_read(user_id: int) -> tuple[Any, dict[str, Any]]:
    """Lock the payer's user row with what `check_payer`, the limits and `second_factor`
    decide on, for the payment kinds built on this path (inter-bank, scheduled, batch)."""
    return _LOCK_USER, {"user_id": user_id}


_UPDATE_USER = update(_USERS).where(_USERS.c.id == bindparam("user_row"))
_TRANSFER_BY_ID = _transfer_query().where(_TRANSFERS.c.public_id == bindparam("transfer_id"))
_TRANSFERS_OF_CUSTOMER = (
    _transfer_query()
    .where(_TRANSFERS.c.customer_id == bindparam("customer_id"))
    .order_by(_TRANSFERS.c.id.desc())
    .limit(bindparam("limit"))
)


@dataclass(frozen=True)
class _Party:
    id: int
    status: str
    currency: str


BALANCE_CHANGE = {
    True: "Your account ending {tail} paid out {amount} {currency} at {when}; balance {balance}.",
    False: "Your account ending {tail} received {amount} {currency} at {when}; balance {balance}.",
}


def balance_change_text(
    lang: str,
    *,
    tail: str,
    at: datetime,
    paid_out: bool,
    amount_minor: int,
    currency: str,
    balance_minor: int,
) -> str:
    """The SMS of a balance change (4.1.5.2-b), in `lang`, with Beijing time."""
    local = as_utc(at).astimezone(BANK_TZ)
    when = local.strftime("%m月%d日%H:%M") if lang == "zh" else local.strftime("%d %b %H:%M")
    return gettext(
        BALANCE_CHANGE[paid_out],
        lang,
        tail=tail,
        amount=format_grouped(amount_minor, currency),
        currency=currency,
        when=when,
        balance=format_grouped(balance_minor, currency),
    )


def check_payer(user: Any) -> None:
    """The freeze and the edition as they are now, on the locked user row (`_LOCK_USER`),
    not as the session saw them when the request began (issue 11 #2)."""
    if user.status != "active":
        raise DomainError("customer_inactive")
    if user.edition != "professional":
        raise DomainError("public_edition")
    if user.freeze == "all":
        raise DomainError("account_frozen")
    if user.freeze == "transfers":
        raise DomainError("transfers_frozen")


def second_factor(
    session: Session,
    *,
    user: Any,
    user_id: int,
    binding: str,
    password_free: bool,
    transaction_password: str | None,
    code: str | None,
    at: datetime,
    settings: Settings,
    client: Client,
) -> tuple[str, str | None]:
    """How a payment is confirmed, decided on the locked user row: password-free, or the
    transaction password plus a code bound to `binding` (the key data's digest). Returns
    (confirmed_with, the PIN re-hashed under the current pepper or None). A wrong PIN or
    code is counted in this transaction before the refusal, so N concurrent wrong
    attempts consume N tries (rule 9)."""
    if password_free:
        return "password_free", None
    if not transaction_password or not code:
        raise DomainError("transaction_password_required")
    otp_row = otp.usable_code(
        session, user_id=user_id, purpose="transfer", binding=binding, at=at, settings=settings
    )
    pin_ok = verify_password(user.transaction_pin_hash, transaction_password)
    code_ok = otp.matches(otp_row, code=code, settings=settings)
    if not (pin_ok and code_ok):
        # One answer for either factor, so a session cannot be used as an oracle to guess
        # the PIN. Counted now, under the locks that decided it.
        if not code_ok:
            otp.record_wrong_code(
                session,
                user_id=user_id,
                purpose="transfer",
                binding=binding,
                settings=settings,
                at=at,
                client=client,
            )
        else:
            # Counted only with the right code: whoever guesses has the customer's phone,
            # and a stranger cannot lock the customer out with random PINs.
            identity_pins.record_pin_failure(session, user_id=user_id, client=client, at=at)
        raise DomainError("second_factor_invalid", pin_wrong=not pin_ok, code_wrong=not code_ok)
    otp.accept(session, otp_row, at=at)
    # A PIN hashed before the pepper (or under an older one) is re-hashed now.
    return "pin+otp", rehash_if_needed(user.transaction_pin_hash, transaction_password)


def count_on_user_row(
    session: Session,
    *,
    user: Any,
    user_id: int,
    limits_state: LimitState,
    amount_cny: int,
    others_today: int,
    confirmed_with: str,
    repeppered: str | None,
    at: datetime,
) -> None:
    """The day's counters on the locked user row, written with the commit."""
    total, password_free_used = limits_state.used_today(at)
    defer_write(
        session,
        _UPDATE_USER,
        {
            "user_row": user_id,
            "day_date": bank_date(at).isoformat(),
            "day_total_cny_minor": total + amount_cny,
            "day_password_free_cny_minor": password_free_used
            + (amount_cny if confirmed_with == "password_free" else 0),
            "day_others_cny_minor": others_today,
            # A strong confirmation ends a run of wrong PINs.
            "failed_pins": 0 if confirmed_with == "pin+otp" else user.failed_pins,
            **({"transaction_pin_hash": repeppered} if repeppered else {}),
        },
    )


def confirm(
    session: Session,
    *,
    customer_id: int,
    transfer_id: str,
    key_digest: str | None,
    at: datetime,
    settings: Settings,
    transaction_password: str | None = None,
    code: str | None = None,
    client: Client | None = None,
    locked_transfer: list[Any] | None = None,
    acknowledged: bool = False,
    authorized_as: str | None = None,
) -> TransferRow:
    """Execute once. Needs the transaction password and a code bound to the key data,
    unless it is a small password-free payment, or the execution of a standing instruction
    the customer confirmed with both when giving it (`authorized_as`: "scheduled", "batch";
    the caller has checked that authorization, and every other rule still applies).

    Locks in the one order: transfer request -> user (limits, day counters, freeze, PIN
    tries) -> ledger accounts (ascending id). Every check is made on the locked rows before
    the first write; a wrong PIN or code is counted in this transaction before the refusal
    (`second_factor_invalid`), so N concurrent wrong attempts consume N tries (rule 9)."""
    client = client or Client()
    if locked_transfer is None:  # BEGIN goes with it (read_together), not alone
        lock = (_LOCK_TRANSFER, {"transfer_id": transfer_id})
        locked_transfer = read_together(session, [lock])[0]
    row = locked_transfer[0] if locked_transfer else None
    if row is None or row.customer_id != customer_id:
        raise DomainError("transfer_not_found")
    transfer = _row_to_transfer(row)
    if transfer.status == COMPLETED:
        raise DomainError("transfer_already_confirmed")
    if transfer.status != PENDING:
        raise DomainError("transfer_not_pending")
    if at >= as_utc(transfer.expires_at):
        raise DomainError("transfer_expired")
    digest = _digest_of(transfer)
    if digest != transfer.key_digest or (key_digest is not None and key_digest != digest):
        raise DomainError("transfer_data_changed")
    if transfer.warnings and not (acknowledged or authorized_as):
        # The large-transfer reminder or the new-payee warning was not confirmed as read.
        raise DomainError("warnings_not_acknowledged")

    # The rest of the locks in the one order, in one round trip: the user row, the two
    # ledger accounts (ascending, with an entry id reserved), the audit chain's head.
    lock_ledger = ledger.lock_read(
        [row.from_ledger_id, row.to_ledger_id], reserve_entry_id=not is_sqlite(session)
    )
    # A class II or III party: its counters too, read after its ledger row is locked.
    with_classes = row.from_class != "I" or row.to_class != "I"
    reads = [
        (_LOCK_USER, {"user_id": transfer.user_id}),
        lock_ledger,
        (_LOCK_HEAD_OF_CUSTOMER, {"customer_id": customer_id}),
        # Anti-fraud (issue 7 §4): its one read, after the ledger locks, same round trip.
        fraud.transfer_read(
            customer_id=customer_id,
            user_id=transfer.user_id,
            from_account_id=transfer.from_account_id,
            to_account_id=transfer.to_account_id,
            to_number=transfer.to_number,
            payee_mobile=row.payee_mobile,
            at=at,
        ),
    ]
    if with_classes:
        ids = {"class_a": transfer.from_account_id, "class_b": transfer.to_account_id}
        reads.append((_CLASS_COUNTERS, ids))
    users, ledger_rows, heads, fraud_rows, *class_rows = read_together(session, reads)
    audit.hold_head(session, heads)
    user = users[0]
    check_payer(user)
    _check_parties(
        _Party(transfer.from_account_id, row.from_status, row.from_currency),
        _Party(transfer.to_account_id, row.to_status, row.to_currency),
        currency=transfer.currency,
    )
    limits_state = limit_state_of(user)
    amount_cny = check_limits(
        limits_state,
        amount_minor=transfer.amount_minor,
        currency=transfer.currency,
        at=at,
        settings=settings,
    )
    others_today = check_certificate_rule(
        limits_state,
        to_own=row.to_customer_id == customer_id,
        amount_cny=amount_cny,
        at=at,
        settings=settings,
    )
    class_updates: list[dict[str, Any]] = []
    if with_classes:
        parties = {r.id: r for r in class_rows[0]}
        payee_ledger = next(r for r in ledger_rows if r.id == row.to_ledger_id)
        class_updates = check_account_classes(
            parties[transfer.from_account_id],
            parties[transfer.to_account_id],
            amount_cny=amount_cny,
            payee_balance_after=payee_ledger.balance_minor + transfer.amount_minor,
            at=at,
            settings=settings,
        )
    # Anti-fraud before anything is posted (issue 7 §4): block refuses, step-up and hold
    # need the second factor even for a password-free amount, hold posts nothing.
    check = fraud.assess_transfer(
        session,
        rows=fraud_rows,
        customer_id=customer_id,
        from_account_id=transfer.from_account_id,
        to_account_id=transfer.to_account_id,
        amount_cny=amount_cny,
        to_own=row.to_customer_id == customer_id,
        at=at,
        enforce=not authorized_as,
    )
    if check.decision.action == fraud.BLOCK:
        raise fraud_holds.refuse_blocked(
            session,
            transfer=transfer,
            decision=check.decision,
            payer_mobile=user.payer_mobile,
            client=client,
            at=at,
        )
    # A standing instruction (a scheduled transfer, a batch) was confirmed with the second
    # factor when it was given, bound to its own digest: its executions name it instead.
    confirmed_with, repeppered = (
        (authorized_as, None)
        if authorized_as
        else second_factor(
            session,
            user=user,
            user_id=transfer.user_id,
            binding=digest,
            password_free=check.decision.action == fraud.ALLOW
            and is_password_free(
                limits_state, amount_cny_minor=amount_cny, at=at, settings=settings
            ),
            transaction_password=transaction_password,
            code=code,
            at=at,
            settings=settings,
            client=client,
        )
    )
    if check.decision.action == fraud.HOLD:
        fraud_holds.hold_transfer(
            session,
            transfer=transfer,
            decision=check.decision,
            payer_mobile=user.payer_mobile,
            actor=user.public_id,
            confirmed_with=confirmed_with,
            client=client,
            at=at,
        )
        return transfer

    memo = transfer.remark or "转账"
    entry = ledger.post(
        session,
        kind="transfer",
        description=transfer.remark,
        at=at,
        idempotency_key=f"transfer:{transfer.public_id}",
        digest=digest,
        locked=ledger_rows,  # once per transfer: its locked row and status guarantee it
        legs=[
            ledger.Leg(
                account_id=row.from_ledger_id,
                amount_minor=-transfer.amount_minor,
                currency=transfer.currency,
                memo=memo,
                counterparty_name=transfer.payee_name,
                counterparty_account=transfer.to_number,
            ),
            ledger.Leg(
                account_id=row.to_ledger_id,
                amount_minor=transfer.amount_minor,
                currency=transfer.currency,
                memo=memo,
                counterparty_name=user.payer_name,
                counterparty_account=transfer.from_number,
            ),
        ],
    )
    defer_write(
        session,
        _UPDATE_TRANSFER,
        {
            "transfer_row": transfer.id,
            "status": COMPLETED,
            "confirmed_at": at,
            "journal_entry_id": entry.id,
            "confirmed_with": confirmed_with,
        },
    )
    count_on_user_row(
        session,
        user=user,
        user_id=transfer.user_id,
        limits_state=limits_state,
        amount_cny=amount_cny,
        others_today=others_today,
        confirmed_with=confirmed_with,
        repeppered=repeppered,
        at=at,
    )
    for counters in class_updates:
        defer_write(session, _UPDATE_CLASS_COUNTERS, counters)
    fraud.record_transfer(
        session,
        check,
        from_account_id=transfer.from_account_id,
        to_account_id=transfer.to_account_id,
        amount_cny=amount_cny,
        at=at,
    )
    fraud.record_event(
        session, kind="transfer", customer_id=customer_id, decision=check.decision, at=at
    )
    transfer.status = COMPLETED
    transfer.confirmed_at = at
    transfer.journal_entry_id = entry.id
    transfer.confirmed_with = confirmed_with
    # 4.1.5.2-b: both customers hear of the change with their new balance, from the
    # outbox after the commit; the payer in the language of the request (issue 9), the
    # payee, who made no request, in Chinese.
    notify.enqueue_many(
        session,
        [
            notify.outbox_row(
                channel="sms",
                phone=phone,
                purpose="balance_change",
                at=at,
                text=balance_change_text(
                    lang,
                    tail=number[-4:],
                    at=at,
                    paid_out=paid_out,
                    amount_minor=transfer.amount_minor,
                    currency=transfer.currency,
                    balance_minor=entry.balances.get(ledger_id, 0),
                ),
            )
            for phone, number, paid_out, ledger_id, lang in (
                (
                    user.payer_mobile,
                    transfer.from_number,
                    True,
                    row.from_ledger_id,
                    client.language,
                ),
                (row.payee_mobile, transfer.to_number, False, row.to_ledger_id, "zh"),
            )
            # A batch's payer hears once, when the batch is done (batches.finish_batches),
            # not once per line.
            if not (paid_out and authorized_as == "batch")
        ],
    )
    audit.append(
        session,
        event="transfer_confirmed",
        outcome="success",
        actor=user.public_id,
        at=at,
        client=client,
        customer_id=customer_id,
        details={**_audit_details(transfer), "with": confirmed_with},
    )
    return transfer


def find_transfer(session: Session, *, customer_id: int, transfer_id: str) -> TransferRow | None:
    try:
        return get_transfer(session, customer_id=customer_id, transfer_id=transfer_id)
    except DomainError:
        return None


def get_transfer(session: Session, *, customer_id: int, transfer_id: str) -> TransferRow:
    """The customer's own transfer, or 404: another customer's id looks like none."""
    row = session.execute(_TRANSFER_BY_ID, {"transfer_id": transfer_id}).first()
    if row is None or row.customer_id != customer_id:
        raise DomainError("transfer_not_found")
    return _row_to_transfer(row)


def list_transfers(session: Session, *, customer_id: int, limit: int = 20) -> list[TransferRow]:
    return [
        _row_to_transfer(row)
        for row in session.execute(
            _TRANSFERS_OF_CUSTOMER, {"customer_id": customer_id, "limit": limit}
        )
    ]


@dataclass(frozen=True)
class TransferView:
    id: str
    status: str
    from_account_id: str
    from_account_number: str
    to_account_number: str
    payee_name: str
    amount: str
    currency: str
    remark: str
    created_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None
    key_digest: str
    second_factor_required: bool = True
    warnings: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "from_account_id": self.from_account_id,
            "from_account_number": self.from_account_number,
            "to_account_number": self.to_account_number,
            "payee_name": self.payee_name,
            "amount": self.amount,
            "currency": self.currency,
            "remark": self.remark,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "confirmed_at": self.confirmed_at.isoformat() if self.confirmed_at else None,
            "key_digest": self.key_digest,
            "second_factor_required": self.second_factor_required,
            "warnings": list(self.warnings),
        }


def view(
    session: Session, transfer: TransferRow, *, at: datetime, settings: Settings | None = None
) -> TransferView:
    """What the payer sees. The payee's number is masked, the payee name they typed is not."""
    status = transfer.status
    if status == PENDING and at >= as_utc(transfer.expires_at):
        status = EXPIRED
    if status == COMPLETED:
        second_factor = transfer.confirmed_with != "password_free"
    elif transfer.second_factor_required is not None:
        second_factor = transfer.second_factor_required
    else:
        second_factor = not (
            settings is not None
            and password_free_eligible(session, transfer=transfer, at=at, settings=settings)
        )
    return TransferView(
        id=transfer.public_id,
        status=status,
        from_account_id=transfer.from_public_id,
        from_account_number=mask_account_number(transfer.from_number),
        to_account_number=mask_account_number(transfer.to_number),
        payee_name=transfer.payee_name,
        amount=format_minor(transfer.amount_minor, transfer.currency),
        currency=transfer.currency,
        remark=transfer.remark,
        created_at=as_utc(transfer.created_at),
        expires_at=as_utc(transfer.expires_at),
        confirmed_at=as_utc(transfer.confirmed_at) if transfer.confirmed_at else None,
        key_digest=transfer.key_digest,
        second_factor_required=second_factor,
        warnings=tuple(w for w in transfer.warnings.split(",") if w),
    )


def masked_payee(name: str) -> str:
    return mask_name(name)


def verify(session: Session) -> VerifyReport:
    """Each completed transfer has exactly its own journal entry; no other has one."""
    report = VerifyReport()
    completed = session.scalar(
        select(func.count(TransferRequest.id)).where(TransferRequest.status == COMPLETED)
    )
    report.checks["completed transfers"] = int(completed or 0)
    orphans = session.scalar(
        select(func.count(TransferRequest.id)).where(
            TransferRequest.status == COMPLETED, TransferRequest.journal_entry_id.is_(None)
        )
    )
    if orphans:
        report.problems.append(f"{orphans} completed transfers have no journal entry")
    stray = session.scalar(
        select(func.count(TransferRequest.id)).where(
            TransferRequest.status != COMPLETED, TransferRequest.journal_entry_id.is_not(None)
        )
    )
    if stray:
        report.problems.append(f"{stray} unconfirmed transfers have a journal entry")
    return report


# The payee-miss count, public for the payment kinds that check a payee when an instruction
# is given (scheduled transfers): one hourly limit for every way of naming a payee.
refuse_after_payee_misses = _refuse_after_payee_misses
count_payee_miss = _count_payee_miss
