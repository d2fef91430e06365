"""Inter-bank transfers: prepare -> confirm like a transfer within the bank (the same
rules: limits, the certificate rule, warnings, the second factor, freeze, idempotency,
reused from payments.service), then the clearing network's steps, each a ledger movement
keyed `interbank:<id>:<step>` so it happens once:

    debit     customer -> CLEARING sub-account      (confirm)
    sent      CLEARING -> INTERBANK sub-account     (the network took it)
    settled   INTERBANK -> PBOC settlement account  (settled at the central bank)
    rejected  CLEARING or INTERBANK -> customer     (the network refused it)
    revoked   CLEARING -> customer                  (the customer, before sending)
    returned  PBOC -> customer                      (退汇, after success)

The CLEARING and INTERBANK sub-accounts are chosen by the transfer's id (rule 8), so
confirms do not queue on one row; only the worker writes the PBOC account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, insert, literal_column, select, update
from sqlalchemy.orm import Session

from wangyin.accounts.models import Account
from wangyin.accounts.service import CARD_BIN
from wangyin.clearing import directory
from wangyin.clearing.models import (
    EXPIRED,
    IN_FLIGHT,
    NETTED,
    PENDING,
    REJECTED,
    RETURNED,
    REVOKED,
    SENDING,
    SENT,
    SETTLED,
    WAITING,
    BankBranch,
    InterbankTransfer,
    ReconciliationMismatch,
    ReconciliationRun,
)
from wangyin.clearing.settings import ClearingSettings
from wangyin.clock import BANK_TZ, as_utc
from wangyin.config import Settings
from wangyin.db import defer_write, flush_deferred, is_sqlite, read_together, table_of
from wangyin.errors import DomainError
from wangyin.fraud import engine as fraud
from wangyin.fraud import service as fraud_holds
from wangyin.gateways import clearing as network
from wangyin.gateways.clearing.hours import _time, next_hvps_opening
from wangyin.identity import otp
from wangyin.identity.models import Customer, User
from wangyin.identity.service import customer_of_token, token_hash
from wangyin.ids import new_public_id
from wangyin.ledger import service as ledger
from wangyin.ledger.models import JournalEntry, LedgerAccount
from wangyin.ledger.service import VerifyReport
from wangyin.money import format_grouped, format_minor, parse_amount
from wangyin.notify import service as notify
from wangyin.payments import service as payments
from wangyin.security import audit
from wangyin.security.audit import Client
from wangyin.security.fields import lookup_hash
from wangyin.security.masking import mask_account_number

SPEEDS = ("realtime", "normal", "next_day")
CURRENCY = "CNY"  # CNAPS clears renminbi
CLEARING, INTERBANK, PBOC = "CLEARING", "INTERBANK", "PBOC"
# The ledger steps a transfer in each state has booked (verify), beyond "debit".
STEPS_OF = {
    WAITING: {"debit"},
    SENDING: {"debit"},
    SENT: {"debit", "sent"},
    NETTED: {"debit", "sent"},
    SETTLED: {"debit", "sent", "settled"},
    REVOKED: {"debit", "revoked"},
    RETURNED: {"debit", "sent", "settled", "returned"},
}


# --- routing --------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    system: str
    send_after: datetime
    reason: str  # why it waits: "" | normal | next_day | hvps_closed


def route(*, amount_minor: int, speed: str, at: datetime, settings: ClearingSettings) -> Route:
    """The system by amount, time and speed: real time up to the IBPS ceiling goes by IBPS,
    delayed items up to the BEPS ceiling by BEPS, anything larger by HVPS, which queues an
    item outside its hours until it opens."""
    at = as_utc(at)
    if speed == "realtime":
        system, send_after, reason = "IBPS", at, ""
        if amount_minor > settings.ibps_ceiling_minor:
            system = "HVPS"
    else:
        system = "BEPS" if amount_minor <= settings.beps_ceiling_minor else "HVPS"
        if speed == "normal":
            send_after, reason = at + timedelta(minutes=settings.normal_delay_minutes), "normal"
        else:
            local = at.astimezone(BANK_TZ)
            next_day = datetime.combine(
                local.date() + timedelta(days=1), _time(settings.next_day_at), tzinfo=BANK_TZ
            )
            send_after, reason = as_utc(next_day), "next_day"
    if system == "HVPS":
        opening = next_hvps_opening(send_after, settings)
        if opening > send_after:
            send_after, reason = opening, "hvps_closed"
    return Route(system, send_after, reason)


# --- prepare and confirm ------------------------------------------------------------------


def key_data(t: Any, from_number: str) -> dict[str, str]:
    """What the customer confirms; a second factor signs its digest."""
    return {
        "from": from_number,
        "bank": t.bank_code,
        "to": t.payee_account,
        "payee_name": t.payee_name,
        "amount": format_minor(t.amount_minor, t.currency),
        "currency": t.currency,
        "speed": t.speed,
        "time": as_utc(t.created_at).replace(microsecond=0).isoformat(),
    }


def resolve_bank(
    session: Session, *, bank_code: str, payee_account: str, found_rows: list[Any] | None = None
) -> Any:
    """The payee's bank: the code given, or the bank of the card's BIN. `found_rows`: the
    code's row, when the use case read it with the session (`prepare_reads`)."""
    code = "".join(bank_code.split())
    if payee_account.startswith(CARD_BIN) or code == directory.OWN_BANK_CODE:
        raise DomainError("same_bank_payee")
    if not code:
        found = directory.bank_of_card(session, payee_account)
        if found is None:
            raise DomainError("bank_code_required")
        return found
    if not directory.valid_code(code):
        raise DomainError("invalid_bank_code")
    if found_rows is None:
        found_rows = list(session.execute(_BANK_BY_CODE, {"code": code}))
    if not found_rows:
        raise DomainError("unknown_bank_code")
    return found_rows[0]


# --- the hot path in explicit SQL (issue 10 §4's rules, as payments.service) -------------
# Statements are built once; a request runs them through db.read_together (one round trip
# on PostgreSQL) and db.defer_write (sent with the COMMIT).

_IB = table_of(InterbankTransfer)
_ACCOUNTS = table_of(Account)
_LEDGER = table_of(LedgerAccount)
_BRANCHES = table_of(BankBranch)

_BANK_BY_CODE = select(_BRANCHES.c.code, _BRANCHES.c.bank_name, _BRANCHES.c.branch_name).where(
    _BRANCHES.c.code == bindparam("code")
)
# The paying account with its available balance and class counters, and whether its
# customer has had a transfer to this payee account settled (a large first payment is
# warned of): one statement, read with the session.
_PAID_BEFORE = (
    select(func.count(_IB.c.id))
    .where(
        _IB.c.customer_id == _ACCOUNTS.c.customer_id,
        _IB.c.payee_account == bindparam("number"),
        _IB.c.status == SETTLED,
    )
    .correlate(_ACCOUNTS)
    .scalar_subquery()
)
_SOURCE = (
    select(
        _ACCOUNTS.c.id,
        _ACCOUNTS.c.public_id,
        _ACCOUNTS.c.account_number,
        _ACCOUNTS.c.customer_id,
        _ACCOUNTS.c.status,
        _ACCOUNTS.c.currency,
        *payments.CLASS_COLUMNS,
        (_LEDGER.c.balance_minor - _LEDGER.c.held_minor).label("available"),
        _PAID_BEFORE.label("paid_before"),
    )
    .join(_LEDGER, _LEDGER.c.id == _ACCOUNTS.c.ledger_account_id)
    .where(_ACCOUNTS.c.public_id == bindparam("from_account_id"))
)
_INSERT_IB = insert(_IB)
_LIMITS = select(*payments.LIMIT_COLUMNS).where(table_of(User).c.id == bindparam("user_id"))
_UPDATE_IB = update(_IB).where(_IB.c.id == bindparam("transfer_row"))
_LOCK_HEAD = audit.lock_head_query(bindparam("customer_id"))


def _lock_query(*, of_token: bool) -> Any:
    query = (
        select(
            _IB,
            _ACCOUNTS.c.public_id.label("from_public_id"),
            _ACCOUNTS.c.account_number.label("from_number"),
            _ACCOUNTS.c.ledger_account_id.label("from_ledger_id"),
            _ACCOUNTS.c.status.label("from_status"),
            _ACCOUNTS.c.account_class,
            _ACCOUNTS.c.bound_account_id,
        )
        .join(_ACCOUNTS, _ACCOUNTS.c.id == _IB.c.from_account_id)
        .where(_IB.c.public_id == bindparam("transfer_id"))
        .with_for_update(of=_IB)
    )
    if of_token:
        # Only the caller's own transfer: read with the session, it locks nothing else.
        query = query.where(_IB.c.customer_id == customer_of_token())
    return query


_LOCK_IB = _lock_query(of_token=False)
_LOCK_IB_OF_TOKEN = _lock_query(of_token=True)
_BANK_ACCOUNT_ID = select(_LEDGER.c.id).where(_LEDGER.c.code == bindparam("code"))
_CLASS_OF_SOURCE = select(_ACCOUNTS.c.id, *payments.CLASS_COLUMNS).where(
    _ACCOUNTS.c.id == bindparam("account_row")
)
_UPDATE_CLASS_COUNTERS = update(_ACCOUNTS).where(_ACCOUNTS.c.id == bindparam("account_row"))


@dataclass
class TransferRow:
    """An inter-bank transfer as the hot path reads it (the row plus its paying account's
    public id and number); `view` and `key_data` take it as they take the ORM object."""

    id: int
    public_id: str
    customer_id: int
    user_id: int
    from_account_id: int
    bank_code: str
    bank_name: str
    payee_account: str
    payee_name: str
    amount_minor: int
    currency: str
    remark: str
    speed: str
    system: str
    status: str
    reason: str
    network_code: str
    key_digest: str
    warnings: str
    confirmed_with: str
    shard: int
    created_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None
    send_after: datetime | None
    settled_at: datetime | None
    from_public_id: str
    from_number: str
    second_factor_required: bool | None = None


_ROW_FIELDS = tuple(f for f in TransferRow.__dataclass_fields__ if f != "second_factor_required")


def _row_of(row: Any) -> TransferRow:
    return TransferRow(**{name: getattr(row, name) for name in _ROW_FIELDS})


# The other bank's account, for the class II/III rules: never the source's bound account.
_OTHER_BANK = SimpleNamespace(id=0, account_class="I", bound_account_id=None)


def prepare_reads(
    *, from_account_id: str, bank_code: str, payee_account: str
) -> list[tuple[Any, dict[str, Any]]]:
    """prepare's reads that depend only on the request: the bank's code and the paying
    account (with the customer's settled transfers to this payee), for the use case to
    send with the session look-up (`prepare`'s `bank_rows` and `source_rows`)."""
    return [
        (_BANK_BY_CODE, {"code": "".join(bank_code.split())}),
        (
            _SOURCE,
            {"from_account_id": from_account_id, "number": "".join(payee_account.split())},
        ),
    ]


def prepare(
    session: Session,
    *,
    customer_id: int,
    user_id: int,
    user_public_id: str,
    from_account_id: str,
    bank_code: str,
    payee_account: str,
    payee_name: str,
    amount: str,
    speed: str,
    remark: str,
    at: datetime,
    settings: Settings,
    clearing: ClearingSettings,
    client: Client,
    limits_state: payments.LimitState | None = None,
    bank_rows: list[Any] | None = None,
    source_rows: list[Any] | None = None,
) -> TransferRow:
    """Validate and fix the key data. With the rows read with the session (`limits_state`,
    `bank_rows`, `source_rows`), prepare costs one more round trip (the transfer's insert
    and the audit head's lock) before the commit's; every refusal comes before a write."""
    number = "".join(payee_account.split())
    if not (number.isdigit() and 8 <= len(number) <= 34):
        raise DomainError("invalid_payee_account")
    if speed not in SPEEDS:
        raise DomainError("validation_error")
    amount_minor = parse_amount(amount, CURRENCY)
    if source_rows is None or bank_rows is None or limits_state is None:
        # Called without the use case's reads (a worker, the bench): the same reads and
        # the limits, in one round trip.
        bank_read, source_read = prepare_reads(
            from_account_id=from_account_id, bank_code=bank_code, payee_account=number
        )
        found_bank, source_rows, limit_rows = read_together(
            session, [bank_read, source_read, (_LIMITS, {"user_id": user_id})]
        )
        bank_rows = found_bank if bank_rows is None else bank_rows
        limits_state = limits_state or payments.limit_state_of(limit_rows[0])
    bank = resolve_bank(session, bank_code=bank_code, payee_account=number, found_rows=bank_rows)
    source = source_rows[0] if source_rows else None
    if source is None or source.customer_id != customer_id:
        raise DomainError("account_not_found")
    if source.status != "active":
        raise DomainError("account_inactive")
    if source.currency != CURRENCY:
        raise DomainError("interbank_cny_only")
    if amount_minor > source.available:
        raise DomainError("insufficient_funds")
    amount_cny = payments.check_limits(
        limits_state, amount_minor=amount_minor, currency=CURRENCY, at=at, settings=settings
    )
    # Another bank's account is never the customer's own account at this bank.
    payments.check_certificate_rule(
        limits_state, to_own=False, amount_cny=amount_cny, at=at, settings=settings
    )
    payments.check_account_classes(
        source, _OTHER_BANK, amount_cny=amount_cny, payee_balance_after=0, at=at, settings=settings
    )
    warnings = payments.warnings_for(
        limits_state,
        to_own=False,
        paid_before=bool(source.paid_before),
        amount_cny=amount_cny,
        at=at,
        settings=settings,
    )
    planned = route(amount_minor=amount_minor, speed=speed, at=at, settings=clearing)
    created = at.replace(microsecond=0)
    public_id = new_public_id()
    t = TransferRow(
        id=0,
        public_id=public_id,
        customer_id=customer_id,
        user_id=user_id,
        from_account_id=source.id,
        bank_code=bank.code,
        bank_name=f"{bank.bank_name} {bank.branch_name}",
        payee_account=number,
        payee_name=" ".join(payee_name.split()),
        amount_minor=amount_minor,
        currency=CURRENCY,
        remark=remark.strip()[:100],
        speed=speed,
        system=planned.system,
        status=PENDING,
        reason=planned.reason,
        network_code="",
        key_digest="",
        warnings=warnings,
        confirmed_with="",
        shard=ledger.shard_of(public_id, settings.bank_account_shards),
        created_at=created,
        expires_at=created + timedelta(seconds=settings.transfer_confirm_seconds),
        confirmed_at=None,
        send_after=planned.send_after,
        settled_at=None,
        from_public_id=source.public_id,
        from_number=source.account_number,
        second_factor_required=not payments.is_password_free(
            limits_state, amount_cny_minor=amount_cny, at=at, settings=settings
        ),
    )
    t.key_digest = ledger.request_digest(key_data(t, source.account_number))
    defer_write(
        session,
        _INSERT_IB,
        {
            **{name: getattr(t, name) for name in _INSERTED},
            "attempts": 0,
            "ip": client.ip[:64],
            "device_id": client.device_id[:80],
        },
    )
    # The audit chain's head is locked after the insert went out, in the same round trip
    # (its foreign-key checks may wait; never while this transaction holds the head).
    audit.hold_head(
        session, read_together(session, [(_LOCK_HEAD, {"customer_id": customer_id})])[0]
    )
    _audit(session, t, "interbank_prepared", user_public_id, at, client)
    return t


_INSERTED = tuple(
    name
    for name in _ROW_FIELDS
    if name not in ("id", "from_public_id", "from_number", "confirmed_at", "settled_at")
)


def _audit(
    session: Session,
    t: Any,
    event: str,
    actor: str,
    at: datetime,
    client: Client,
    **extra: str,
) -> None:
    audit.append(
        session,
        event=event,
        outcome="success",
        actor=actor,
        at=at,
        client=client,
        customer_id=t.customer_id,
        details={
            "transfer": t.public_id,
            "bank": t.bank_code,
            "to": mask_account_number(t.payee_account),
            "amount": format_minor(t.amount_minor, t.currency),
            "speed": t.speed,
            "system": t.system,
            **extra,
        },
    )


def _locked(session: Session, *, transfer_id: str, customer_id: int | None) -> InterbankTransfer:
    found = session.scalars(
        select(InterbankTransfer)
        .where(InterbankTransfer.public_id == transfer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if found is None or (customer_id is not None and found.customer_id != customer_id):
        raise DomainError("transfer_not_found")
    return found


def _clearing_code(transfer_id: str, settings: Settings) -> str:
    """The code of the CLEARING sub-account a transfer's id chooses (its stored shard)."""
    shard = ledger.shard_of(transfer_id, settings.bank_account_shards)
    return ledger.bank_account_code(CLEARING, CURRENCY, shard)


def _fraud_payee_key(t: Any) -> str:
    """How the anti-fraud counters remember a payee at another bank (new-payee rule): its
    bank and account, as a keyed hash (never the number itself)."""
    return "ib" + lookup_hash(f"{t.bank_code}:{t.payee_account}")[:24]


def confirm_reads(
    transfer_id: str, *, token: str, settings: Settings
) -> list[tuple[Any, dict[str, Any]]]:
    """confirm's first reads, for the use case to send with the session look-up: the
    caller's transfer locked (with its paying account) and its CLEARING sub-account's id."""
    return [
        (_LOCK_IB_OF_TOKEN, {"transfer_id": transfer_id, "token_hash": token_hash(token)}),
        (_BANK_ACCOUNT_ID, {"code": _clearing_code(transfer_id, settings)}),
    ]


def confirm(
    session: Session,
    *,
    customer_id: int,
    transfer_id: str,
    key_digest: str | None,
    transaction_password: str | None,
    code: str | None,
    acknowledged: bool,
    at: datetime,
    settings: Settings,
    clearing: ClearingSettings,
    client: Client,
    locked: list[list[Any]] | None = None,
) -> TransferRow:
    """Debit the customer into a clearing sub-account, once. Locks in the one order:
    transfer -> user -> ledger accounts (ascending) -> audit head, the last three in one
    round trip; every rule decided on the locked rows before the first write, as
    payments.confirm does. `locked`: `confirm_reads`' rows, read with the session."""
    if locked is None:
        locked = read_together(
            session,
            [
                (_LOCK_IB, {"transfer_id": transfer_id}),
                (_BANK_ACCOUNT_ID, {"code": _clearing_code(transfer_id, settings)}),
            ],
        )
    rows, clearing_rows = locked
    row = rows[0] if rows else None
    if row is None or row.customer_id != customer_id:
        raise DomainError("transfer_not_found")
    t = _row_of(row)
    if t.status != PENDING:
        raise DomainError(
            "transfer_already_confirmed" if t.confirmed_at else "transfer_not_pending"
        )
    if at >= as_utc(t.expires_at):
        raise DomainError("transfer_expired")
    digest = ledger.request_digest(key_data(t, t.from_number))
    if digest != t.key_digest or (key_digest is not None and key_digest != digest):
        raise DomainError("transfer_data_changed")
    if t.warnings and not acknowledged:
        raise DomainError("warnings_not_acknowledged")
    if clearing_rows and ledger.shard_of(t.public_id, settings.bank_account_shards) == t.shard:
        clearing_id = int(clearing_rows[0].id)
    else:  # opened on first use, or the shards were re-configured since prepare
        clearing_id = ledger.bank_account_id(
            session, purpose=CLEARING, currency=CURRENCY, at=at, shard=t.shard
        )
    # A class II or III account: its counters, read after its ledger row is locked.
    with_class = row.account_class != "I"
    reads = [
        payments.user_lock_read(t.user_id),
        ledger.lock_read(
            [row.from_ledger_id, clearing_id], reserve_entry_id=not is_sqlite(session)
        ),
        (_LOCK_HEAD, {"customer_id": customer_id}),
        # Anti-fraud (issue 7 §4): the engine's one read, in the same round trip.
        fraud.transfer_read(
            customer_id=customer_id,
            user_id=t.user_id,
            from_account_id=t.from_account_id,
            to_account_id=None,  # the payee is at another bank
            to_number=t.payee_account,
            payee_mobile="",
            at=at,
        ),
    ]
    if with_class:
        reads.append((_CLASS_OF_SOURCE, {"account_row": t.from_account_id}))
    users, ledger_rows, heads, fraud_rows, *class_rows = read_together(session, reads)
    audit.hold_head(session, heads)
    user = users[0]
    payments.check_payer(user)
    if row.from_status != "active":
        raise DomainError("account_inactive")
    limits_state = payments.limit_state_of(user)
    amount_cny = payments.check_limits(
        limits_state, amount_minor=t.amount_minor, currency=CURRENCY, at=at, settings=settings
    )
    others_today = payments.check_certificate_rule(
        limits_state, to_own=False, amount_cny=amount_cny, at=at, settings=settings
    )
    class_updates = payments.check_account_classes(
        class_rows[0][0]
        if with_class
        else SimpleNamespace(
            id=t.from_account_id, account_class="I", bound_account_id=row.bound_account_id
        ),
        _OTHER_BANK,
        amount_cny=amount_cny,
        payee_balance_after=0,
        at=at,
        settings=settings,
    )
    # Anti-fraud before anything is posted, as for a transfer at our bank. Money sent to
    # another bank cannot be held back once the network has it, so a "hold" decision is
    # refused like a block here (texted, a case opened); step-up asks the second factor.
    payee_key = _fraud_payee_key(t)
    check = fraud.assess_transfer(
        session,
        rows=fraud_rows,
        customer_id=customer_id,
        from_account_id=t.from_account_id,
        to_account_id=None,
        amount_cny=amount_cny,
        to_own=False,
        at=at,
        payee_key=payee_key,
    )
    if check.decision.action in (fraud.BLOCK, fraud.HOLD):
        raise fraud_holds.refuse_blocked(
            session,
            transfer=SimpleNamespace(
                public_id=t.public_id,
                customer_id=customer_id,
                amount_minor=t.amount_minor,
                currency=CURRENCY,
                to_number=t.payee_account,
            ),
            decision=check.decision,
            payer_mobile=user.payer_mobile,
            client=client,
            at=at,
        )
    confirmed_with, repeppered = payments.second_factor(
        session,
        user=user,
        user_id=t.user_id,
        binding=digest,
        password_free=check.decision.action == fraud.ALLOW
        and payments.is_password_free(
            limits_state, amount_cny_minor=amount_cny, at=at, settings=settings
        ),
        transaction_password=transaction_password,
        code=code,
        at=at,
        settings=settings,
        client=client,
    )
    memo = t.remark or "跨行转账"
    entry = ledger.post(
        session,
        kind="interbank",
        description=memo,
        at=at,
        idempotency_key=f"interbank:{t.public_id}:debit",
        digest=digest,
        locked=ledger_rows,  # once per transfer: its locked row and status guarantee it
        legs=[
            ledger.Leg(
                row.from_ledger_id,
                -t.amount_minor,
                CURRENCY,
                memo=memo,
                counterparty_name=t.payee_name,
                counterparty_account=t.payee_account,
            ),
            ledger.Leg(clearing_id, t.amount_minor, CURRENCY, memo=memo),
        ],
    )
    # The speed counts from the confirmation, not from the form.
    planned = route(amount_minor=t.amount_minor, speed=t.speed, at=at, settings=clearing)
    t.system, t.send_after, t.reason = planned.system, planned.send_after, planned.reason
    t.status, t.confirmed_at, t.confirmed_with = WAITING, at, confirmed_with
    fraud.record_transfer(
        session,
        check,
        from_account_id=t.from_account_id,
        to_account_id=None,
        amount_cny=amount_cny,
        at=at,
        payee_key=payee_key,
    )
    fraud.record_event(
        session, kind="transfer", customer_id=customer_id, decision=check.decision, at=at
    )
    defer_write(
        session,
        _UPDATE_IB,
        {
            "transfer_row": t.id,
            "status": WAITING,
            "confirmed_at": at,
            "confirmed_with": confirmed_with,
            "system": t.system,
            "send_after": t.send_after,
            "reason": t.reason,
        },
    )
    payments.count_on_user_row(
        session,
        user=user,
        user_id=t.user_id,
        limits_state=limits_state,
        amount_cny=amount_cny,
        others_today=others_today,
        confirmed_with=confirmed_with,
        repeppered=repeppered,
        at=at,
    )
    for counters in class_updates:
        defer_write(session, _UPDATE_CLASS_COUNTERS, counters)
    if user.payer_mobile:
        # 4.1.5.2-b: the payer hears of the debit with the new balance, in the request's
        # language, from the outbox after the commit.
        notify.enqueue_many(
            session,
            [
                notify.outbox_row(
                    channel="sms",
                    phone=user.payer_mobile,
                    purpose="balance_change",
                    at=at,
                    text=payments.balance_change_text(
                        client.language,
                        tail=t.from_number[-4:],
                        at=at,
                        paid_out=True,
                        amount_minor=t.amount_minor,
                        currency=CURRENCY,
                        balance_minor=entry.balances[row.from_ledger_id],
                    ),
                )
            ],
        )
    _audit(
        session, t, "interbank_confirmed", user.public_id, at, client, **{"with": confirmed_with}
    )
    return t


def _when(at: datetime) -> str:
    return as_utc(at).astimezone(BANK_TZ).strftime("%m月%d日%H:%M")


def _text(session: Session, phone: str | None, text: str, at: datetime) -> None:
    if phone:
        notify.enqueue_many(
            session,
            [
                notify.outbox_row(
                    channel="sms", phone=phone, purpose="balance_change", at=at, text=text
                )
            ],
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
    """A code bound to the transfer's key data; the text names the account tail and amount."""
    t = get(session, customer_id=customer_id, transfer_id=transfer_id)
    if t.status != PENDING or at >= as_utc(t.expires_at):
        raise DomainError("transfer_not_pending")
    otp.issue(
        session,
        user=session.get_one(User, t.user_id),
        purpose="transfer",
        binding=t.key_digest,
        channel=channel,
        at=at,
        settings=settings,
        message_fields={
            "tail": t.payee_account[-4:],
            "amount": format_minor(t.amount_minor, t.currency),
            "currency": t.currency,
        },
        client=client,
        audit_details={"transfer": t.public_id},
    )


def revoke(
    session: Session,
    *,
    customer_id: int,
    transfer_id: str,
    actor: str,
    at: datetime,
    client: Client,
) -> InterbankTransfer:
    """A transfer not yet sent is revoked by its customer; the money is back at once."""
    t = _locked(session, transfer_id=transfer_id, customer_id=customer_id)
    if t.status == REVOKED:
        return t
    if t.status != WAITING:
        raise DomainError("interbank_not_revocable")
    _book(session, t, "revoked", CLEARING, at, memo="跨行转账撤销")
    t.status, t.finished_at, t.reason = REVOKED, at, "revoked"
    _tell(session, t, "已撤销，款项已退回您的账户", at)
    _audit(session, t, "interbank_revoked", actor, at, client)
    return t


# --- the network's answers ----------------------------------------------------------------


def _customer_ledger(session: Session, t: InterbankTransfer) -> int:
    return session.execute(
        select(Account.ledger_account_id).where(Account.id == t.from_account_id)
    ).scalar_one()


def _book(
    session: Session, t: InterbankTransfer, step: str, source: str, at: datetime, memo: str
) -> None:
    """One step's movement out of `source` (a bank account) to the next holder."""
    target = {"sent": INTERBANK, "settled": PBOC}.get(step)
    shard = 0 if source == PBOC else t.shard
    from_id = ledger.bank_account_id(session, purpose=source, currency=CURRENCY, at=at, shard=shard)
    if target is None:  # back to the customer
        to_id = _customer_ledger(session, t)
        legs = [
            ledger.Leg(from_id, -t.amount_minor, CURRENCY, memo=memo),
            ledger.Leg(
                to_id,
                t.amount_minor,
                CURRENCY,
                memo=memo,
                counterparty_name=t.payee_name,
                counterparty_account=t.payee_account,
            ),
        ]
    else:
        to_id = ledger.bank_account_id(
            session,
            purpose=target,
            currency=CURRENCY,
            at=at,
            shard=0 if target == PBOC else t.shard,
        )
        legs = [
            ledger.Leg(from_id, -t.amount_minor, CURRENCY, memo=memo),
            ledger.Leg(to_id, t.amount_minor, CURRENCY, memo=memo),
        ]
    ledger.post(
        session,
        kind=f"interbank_{step}",
        description=memo,
        at=at,
        idempotency_key=f"interbank:{t.public_id}:{step}",
        digest=t.key_digest,
        legs=legs,
    )


def _tell(session: Session, t: InterbankTransfer, what: str, at: datetime) -> None:
    phone = session.scalar(select(Customer.mobile).where(Customer.id == t.customer_id))
    number = session.scalar(select(Account.account_number).where(Account.id == t.from_account_id))
    _text(
        session,
        phone,
        f"您尾号{str(number)[-4:]}的账户{_when(at)}跨行转账 "
        f"{format_grouped(t.amount_minor, CURRENCY)} {CURRENCY}（收款人{t.payee_name}）{what}。",
        at,
    )


REASON_TEXT = {
    "name_mismatch": "收款人户名与账户不符，款项已退回您的账户",
    "account_closed": "收款账户已销户，款项已退回您的账户",
    "unknown_bank": "收款行行号有误，款项已退回您的账户",
    "over_ceiling": "金额超过清算系统单笔上限，款项已退回您的账户",
    "hvps_closed": "大额支付系统未营业，款项已退回您的账户",
    # A refund the bank asked the receiving bank for (退汇申请, reversals/ from a risk case).
    "recalled": "应本行申请，收款行已将款项退回您的账户",
}


def apply(session: Session, *, t: InterbankTransfer, answer: network.Answer, at: datetime) -> None:
    """Move a transfer (locked by the caller) to what the network says; each movement once."""
    if t.status in (REVOKED, REJECTED, RETURNED, PENDING, EXPIRED, WAITING):
        return
    if answer.status == network.REJECTED:
        source = CLEARING if t.status == SENDING else INTERBANK
        _book(session, t, "rejected", source, at, memo="跨行转账被拒绝退回")
        t.status, t.reason, t.network_code, t.finished_at = (
            REJECTED,
            answer.reason,
            answer.status,
            at,
        )
        _tell(session, t, f"被清算系统拒绝（{REASON_TEXT.get(answer.reason, answer.reason)}）", at)
        return
    if t.status == SENDING:
        _book(session, t, "sent", CLEARING, at, memo="跨行转账已发送")
        t.status = SENT
    if answer.status == network.NETTED and t.status == SENT:
        t.status = NETTED
    if answer.status in (network.SETTLED, network.RETURNED) and t.status in (SENT, NETTED):
        _book(session, t, "settled", INTERBANK, at, memo="跨行转账已清算")
        t.status, t.settled_at, t.reason = SETTLED, at, ""
    if answer.status == network.RETURNED and t.status == SETTLED:
        # 退汇: a clear line in the customer's history and an SMS.
        _book(
            session,
            t,
            "returned",
            PBOC,
            at,
            memo=f"退汇：{REASON_TEXT.get(answer.reason, '收款行退回')}",
        )
        t.status, t.reason, t.finished_at = RETURNED, answer.reason, at
        _tell(session, t, f"被收款行退汇（{REASON_TEXT.get(answer.reason, answer.reason)}）", at)
    t.network_code = answer.status


# The worker's hot path: the network's answer to a send (taken, netted or settled) in
# explicit SQL, three round trips on PostgreSQL: [BEGIN + the transfer locked], [the bank
# sub-accounts it moves between locked (ascending) + the entries' ids drawn], [entries,
# balances, postings, the transfer's new state + COMMIT] (and one more when an answer
# books two steps, sent and settled, both moving the INTERBANK row). Anything else (a
# return, a transfer no longer in flight) goes through `apply` on the ORM object.

_LOCK_ANSWERED = (
    select(_IB.c.id, _IB.c.public_id, _IB.c.status, _IB.c.shard, _IB.c.key_digest)
    .add_columns(_IB.c.amount_minor, _IB.c.network_code)
    .where(_IB.c.public_id == bindparam("msg_id"))
    .with_for_update()
)
_BANK_CODES = ("code_0", "code_1", "code_2")  # sent + settled: three accounts
_LOCK_BANK_ACCOUNTS = (
    select(
        _LEDGER.c.id,
        _LEDGER.c.code,
        _LEDGER.c.currency,
        _LEDGER.c.balance_minor,
        _LEDGER.c.held_minor,
        _LEDGER.c.allow_negative,
    )
    .where(_LEDGER.c.code.in_([bindparam(name) for name in _BANK_CODES]))
    .order_by(_LEDGER.c.id)
    .with_for_update()
)
_NEXT_ENTRY_IDS = select(
    *(func.nextval(literal_column("'journal_entries_id_seq'")).label(f"id_{i}") for i in range(2))
)


# The rows ledger.post takes from its caller's locks (`lock_read`'s shape), with and
# without an entry id drawn for it.
class _Locked(NamedTuple):
    id: int
    currency: str
    balance_minor: int
    held_minor: int
    allow_negative: bool


class _LockedWithId(NamedTuple):
    id: int
    currency: str
    balance_minor: int
    held_minor: int
    allow_negative: bool
    next_entry_id: int


_FAST_ANSWERS = (network.ACCEPTED, network.NETTED, network.SETTLED)


def _answer_steps(status: str, answer: str) -> tuple[list[tuple[str, str, str]], str]:
    """The movements an answer books on a transfer in flight, and its status after."""
    steps = []
    if status == SENDING:
        steps.append(("sent", CLEARING, INTERBANK))
        status = SENT
    if answer == network.NETTED and status == SENT:
        status = NETTED
    if answer == network.SETTLED and status in (SENT, NETTED):
        steps.append(("settled", INTERBANK, PBOC))
        status = SETTLED
    return steps, status


def record_answer(session: Session, *, msg_id: str, answer: network.Answer, at: datetime) -> None:
    """Move the transfer `msg_id` to what the network answered; each movement once."""
    rows = read_together(session, [(_LOCK_ANSWERED, {"msg_id": msg_id})])[0]
    if not rows:
        return
    row = rows[0]
    if row.status == SETTLED and answer.status == network.SETTLED == row.network_code:
        return  # the follow-up of a settled item, within the return window: nothing new
    if row.status not in (SENDING, SENT, NETTED) or answer.status not in _FAST_ANSWERS:
        apply(
            session, t=_locked(session, transfer_id=msg_id, customer_id=None), answer=answer, at=at
        )
        return
    steps, status = _answer_steps(row.status, answer.status)
    if not steps and status == row.status and answer.status == row.network_code:
        return  # asked again, answered the same
    changes: dict[str, Any] = {"transfer_row": row.id, "status": status}
    changes["network_code"] = answer.status
    if status == SETTLED:
        changes.update(settled_at=at, reason="")
    if steps:
        _book_together(session, row, steps, at)
    defer_write(session, _UPDATE_IB, changes)


def _code(purpose: str, shard: int) -> str:
    return ledger.bank_account_code(purpose, CURRENCY, 0 if purpose == PBOC else shard)


def _book_together(
    session: Session, row: Any, steps: list[tuple[str, str, str]], at: datetime
) -> None:
    """The steps' movements between the bank's sub-accounts, locked together (ascending)
    after the transfer, with the entries' ids drawn in the same round trip (PostgreSQL)."""
    purposes = sorted({p for _, source, target in steps for p in (source, target)})
    codes = {purpose: _code(purpose, row.shard) for purpose in purposes}
    params = {
        name: codes[purposes[min(i, len(purposes) - 1)]] for i, name in enumerate(_BANK_CODES)
    }
    reads: list[tuple[Any, dict[str, Any]]] = [(_LOCK_BANK_ACCOUNTS, params)]
    pg = not is_sqlite(session)
    if pg:
        reads.append((_NEXT_ENTRY_IDS, {}))
    found, *ids = read_together(session, reads)
    if len(found) < len(purposes):  # a sub-account's first use opens it
        for purpose in purposes:
            shard = 0 if purpose == PBOC else row.shard
            ledger.bank_account_id(session, purpose=purpose, currency=CURRENCY, at=at, shard=shard)
        found, *ids = read_together(session, reads)
    by_code = {r.code: r for r in found}
    balances = {r.id: r.balance_minor for r in found}
    entry_ids = list(ids[0][0]) if pg else [None] * len(steps)
    for (step, source, target), entry_id in zip(steps, entry_ids, strict=False):
        memo = _STEP_MEMO[step]
        legs = [
            ledger.Leg(by_code[codes[source]].id, -row.amount_minor, CURRENCY, memo=memo),
            ledger.Leg(by_code[codes[target]].id, row.amount_minor, CURRENCY, memo=memo),
        ]
        # Each step sees the balances the one before it left.
        locked: list[Any] = [
            _Locked(r.id, r.currency, balances[r.id], r.held_minor, r.allow_negative)
            if entry_id is None
            else _LockedWithId(
                r.id, r.currency, balances[r.id], r.held_minor, r.allow_negative, entry_id
            )
            for r in found
            if r.code in (codes[source], codes[target])  # post takes its legs' rows only
        ]
        entry = ledger.post(
            session,
            kind=f"interbank_{step}",
            description=memo,
            at=at,
            idempotency_key=f"interbank:{row.public_id}:{step}",
            digest=row.key_digest,
            locked=locked,
            legs=legs,
        )
        balances.update(entry.balances)
        if step != steps[-1][0]:
            # Both steps move the INTERBANK row: a batch of deferred writes sees one
            # snapshot, so the first step's writes go out before the second is queued.
            flush_deferred(session)


_STEP_MEMO = {"sent": "跨行转账已发送", "settled": "跨行转账已清算"}


# --- reading ------------------------------------------------------------------------------


def get(session: Session, *, customer_id: int, transfer_id: str) -> InterbankTransfer:
    found = session.scalars(
        select(InterbankTransfer).where(InterbankTransfer.public_id == transfer_id)
    ).first()
    if found is None or found.customer_id != customer_id:
        raise DomainError("transfer_not_found")
    return found


def list_of(session: Session, *, customer_id: int, limit: int = 20) -> list[InterbankTransfer]:
    return list(
        session.scalars(
            select(InterbankTransfer)
            .where(InterbankTransfer.customer_id == customer_id)
            .order_by(InterbankTransfer.id.desc())
            .limit(limit)
        )
    )


def view(session: Session, t: Any, *, at: datetime, settings: Settings) -> dict[str, Any]:
    """What the payer sees, of an ORM transfer or of the hot path's `TransferRow` (which
    carries its paying account and, after prepare, whether a second factor is needed)."""
    status = t.status
    if status == PENDING and at >= as_utc(t.expires_at):
        status = EXPIRED
    if isinstance(t, TransferRow):
        from_account: Any = SimpleNamespace(
            public_id=t.from_public_id, account_number=t.from_number
        )
    else:
        from_account = session.execute(
            select(Account.public_id, Account.account_number).where(Account.id == t.from_account_id)
        ).one()
    if t.confirmed_at:
        second_factor = t.confirmed_with != "password_free"
    elif getattr(t, "second_factor_required", None) is not None:
        second_factor = bool(t.second_factor_required)
    else:
        second_factor = not payments.is_password_free(
            payments.read_limit_state(session, user_id=t.user_id),
            amount_cny_minor=t.amount_minor,
            at=at,
            settings=settings,
        )
    return {
        "id": t.public_id,
        "status": status,
        "from_account_id": from_account.public_id,
        "from_account_number": mask_account_number(from_account.account_number),
        "bank_code": t.bank_code,
        "bank_name": t.bank_name,
        "payee_account": mask_account_number(t.payee_account),
        "payee_name": t.payee_name,
        "amount": format_minor(t.amount_minor, t.currency),
        "currency": t.currency,
        "remark": t.remark,
        "speed": t.speed,
        "system": t.system,
        "reason": t.reason,
        "network_code": t.network_code,
        "created_at": as_utc(t.created_at).isoformat(),
        "expires_at": as_utc(t.expires_at).isoformat(),
        "confirmed_at": as_utc(t.confirmed_at).isoformat() if t.confirmed_at else None,
        "send_after": as_utc(t.send_after).isoformat() if t.send_after else None,
        "settled_at": as_utc(t.settled_at).isoformat() if t.settled_at else None,
        "revocable": status == WAITING,
        "key_digest": t.key_digest,
        "second_factor_required": second_factor,
        "warnings": [w for w in t.warnings.split(",") if w],
    }


# --- verify -------------------------------------------------------------------------------


def verify(session: Session, *, now: datetime) -> VerifyReport:
    """Each inter-bank transfer has exactly the ledger steps of its state; the INTERBANK
    and PBOC accounts hold what the transfers in flight and settled say; everything in
    flight has a reason (reported), and what is stuck or unreconciled is a problem."""
    report = VerifyReport()
    rows = session.execute(
        select(
            InterbankTransfer.public_id,
            InterbankTransfer.status,
            InterbankTransfer.amount_minor,
            InterbankTransfer.send_after,
            InterbankTransfer.sent_at,
            InterbankTransfer.reason,
        ).where(InterbankTransfer.status.not_in((PENDING, EXPIRED)))
    ).all()
    steps: dict[str, set[str]] = {}
    for (key,) in session.execute(
        select(JournalEntry.idempotency_key).where(JournalEntry.idempotency_key.like("interbank:%"))
    ):
        _, public_id, step = str(key).split(":")
        steps.setdefault(public_id, set()).add(step)
    by_status: dict[str, int] = {}
    in_transit = settled = 0
    for row in rows:
        by_status[row.status] = by_status.get(row.status, 0) + 1
        booked = steps.pop(row.public_id, set())
        expected = STEPS_OF.get(row.status)
        if row.status == REJECTED:
            ok = booked in ({"debit", "rejected"}, {"debit", "sent", "rejected"})
        else:
            ok = booked == expected
        if not ok:
            report.problems.append(
                f"inter-bank transfer {row.public_id} is {row.status} but has ledger steps "
                f"{sorted(booked)}"
            )
        if row.status in (SENT, NETTED):
            in_transit += row.amount_minor
        if row.status == SETTLED:
            settled += row.amount_minor
        if row.status == SENDING and row.sent_at and as_utc(row.sent_at) < now - timedelta(hours=1):
            report.problems.append(
                f"inter-bank transfer {row.public_id}: sent over an hour ago and the network's "
                "answer is still unknown (the status query has not resolved it)"
            )
        if (
            row.status == WAITING
            and row.send_after
            and as_utc(row.send_after) < now - timedelta(hours=1)
        ):
            report.problems.append(
                f"inter-bank transfer {row.public_id}: due over an hour ago and not sent "
                f"(waiting for: {row.reason or 'the worker'})"
            )
    for public_id in steps:
        report.problems.append(f"ledger steps of an unknown inter-bank transfer {public_id}")
    for status in IN_FLIGHT:
        # Money in suspense, each with its reason.
        report.checks[f"inter-bank {status.lower()} ({_SUSPENSE[status]})"] = by_status.get(
            status, 0
        )
    report.checks["inter-bank transfers"] = len(rows)
    for purpose, expected_total in ((INTERBANK, in_transit), (PBOC, settled)):
        balance = session.scalar(
            select(func.coalesce(func.sum(LedgerAccount.balance_minor), 0)).where(
                LedgerAccount.code.like(f"BANK:{purpose}:{CURRENCY}%")
            )
        )
        if int(balance or 0) != expected_total:
            report.problems.append(
                f"bank {purpose} {CURRENCY} holds {balance} but the transfers "
                f"{'in transit' if purpose == INTERBANK else 'settled'} sum to {expected_total}"
            )
    open_mismatches = session.execute(
        select(ReconciliationMismatch, ReconciliationRun.day, ReconciliationRun.system)
        .join(ReconciliationRun, ReconciliationRun.id == ReconciliationMismatch.run_id)
        .where(ReconciliationMismatch.resolved.is_(False))
        .order_by(ReconciliationMismatch.id)
    ).all()
    report.checks["reconciliation mismatches open"] = len(open_mismatches)
    for mismatch, day, system in open_mismatches[:50]:
        report.problems.append(
            f"reconciliation mismatch {system} {day}: {mismatch.kind} {mismatch.reference} "
            f"(ours: {mismatch.ours or '-'}; theirs: {mismatch.theirs or '-'})"
        )
    if len(open_mismatches) > 50:
        report.problems.append(
            f"{len(open_mismatches) - 50} more reconciliation mismatches (the day's report files)"
        )
    return report


_SUSPENSE = {
    WAITING: "debited, waiting for its arrival speed or HVPS hours",
    SENDING: "sent, the network's answer awaited: resolved by status query",
    SENT: "taken by the network, not yet settled",
    NETTED: "netted in a BEPS batch, settlement awaited",
}
