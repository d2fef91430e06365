"""Intra-bank transfers: prepare -> confirm.

Prepare validates everything and fixes the key data the customer confirms; confirm
re-checks what may have changed since (balances, limits, account states) and posts one
journal entry, exactly once. Locks are taken in one order everywhere:
transfer request -> customer -> ledger accounts (ascending id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wangyin.accounts import service as accounts
from wangyin.accounts.models import Account
from wangyin.clock import BANK_TZ, as_utc, bank_date, bank_day_bounds_utc
from wangyin.config import Settings
from wangyin.errors import DomainError
from wangyin.identity import otp
from wangyin.identity.models import Customer, User
from wangyin.identity.passwords import verify_password
from wangyin.identity.security_center import effective_limits
from wangyin.ids import new_public_id
from wangyin.ledger import service as ledger
from wangyin.ledger.models import LedgerAccount
from wangyin.ledger.service import VerifyReport
from wangyin.money import format_grouped, format_minor, parse_amount
from wangyin.notify import service as notify
from wangyin.payments.models import COMPLETED, EXPIRED, PENDING, TransferRequest
from wangyin.security import audit
from wangyin.security.audit import Client
from wangyin.security.masking import mask_account_number, mask_name


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


def _digest_of(transfer: TransferRequest, source: Account, payee: Account) -> str:
    return ledger.request_digest(
        key_data(
            from_number=source.account_number,
            to_number=payee.account_number,
            payee_name=transfer.payee_name,
            amount_minor=transfer.amount_minor,
            currency=transfer.currency,
            created_at=transfer.created_at,
        )
    )


def _daily_used(
    session: Session,
    *,
    customer_id: int,
    currency: str,
    at: datetime,
    password_free_only: bool = False,
) -> int:
    start, end = bank_day_bounds_utc(bank_date(at))
    query = select(func.coalesce(func.sum(TransferRequest.amount_minor), 0)).where(
        TransferRequest.customer_id == customer_id,
        TransferRequest.currency == currency,
        TransferRequest.status == COMPLETED,
        TransferRequest.confirmed_at >= start,
        TransferRequest.confirmed_at < end,
    )
    if password_free_only:
        query = query.where(TransferRequest.confirmed_with == "password_free")
    return int(session.scalar(query) or 0)


def _check_limits(
    session: Session,
    *,
    user_id: int,
    customer_id: int,
    amount_minor: int,
    currency: str,
    at: datetime,
    settings: Settings,
) -> None:
    """The customer's own limits within the bank's maxima (per currency, in its units)."""
    limits = effective_limits(session.get_one(User, user_id), settings)
    if amount_minor > limits.single_minor:
        raise DomainError("over_single_limit", limit=format_grouped(limits.single_minor, currency))
    remaining = limits.daily_minor - _daily_used(
        session, customer_id=customer_id, currency=currency, at=at
    )
    if amount_minor > remaining:
        raise DomainError("over_daily_limit", remaining=format_grouped(max(remaining, 0), currency))


def _available(session: Session, account: Account) -> int:
    return session.get_one(LedgerAccount, account.ledger_account_id).available_minor


def _check_parties(session: Session, *, source: Account, payee: Account, currency: str) -> None:
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
) -> TransferRequest:
    client = client or Client()
    source = accounts.owned_account(
        session, customer_id=customer_id, account_public_id=from_account_id
    )
    currency = currency.strip().upper()
    amount_minor = parse_amount(amount, currency)
    payee = accounts.find_by_number(session, number=to_account_number)
    if payee is None:
        raise DomainError("payee_not_found")
    _check_parties(session, source=source, payee=payee, currency=currency)
    holder = session.get_one(Customer, payee.customer_id)
    payee_name = " ".join(payee_name.split())
    if payee_name != holder.name:
        raise DomainError("payee_name_mismatch")
    if amount_minor > _available(session, source):
        raise DomainError("insufficient_funds")
    _check_limits(
        session,
        user_id=user_id,
        customer_id=customer_id,
        amount_minor=amount_minor,
        currency=currency,
        at=at,
        settings=settings,
    )
    created = at.replace(microsecond=0)
    transfer = TransferRequest(
        public_id=new_public_id(),
        customer_id=customer_id,
        user_id=user_id,
        from_account_id=source.id,
        to_account_id=payee.id,
        payee_name=payee_name,
        amount_minor=amount_minor,
        currency=currency,
        remark=remark.strip()[:100],
        status=PENDING,
        key_digest="",
        created_at=created,
        expires_at=created + timedelta(seconds=settings.transfer_confirm_seconds),
        ip=client.ip[:64],
        device_id=client.device_id[:80],
        client_type=client.client_type[:16],
        os_version=client.os_version[:80],
        user_agent=client.user_agent[:300],
    )
    transfer.key_digest = _digest_of(transfer, source, payee)
    session.add(transfer)
    session.flush()
    audit.append(
        session,
        event="transfer_prepared",
        outcome="success",
        actor=session.get_one(User, user_id).public_id,
        at=at,
        client=client,
        customer_id=customer_id,
        details=_audit_details(transfer, source, payee),
    )
    return transfer


def _audit_details(transfer: TransferRequest, source: Account, payee: Account) -> dict[str, str]:
    """Enough to reconstruct the operation (4.4-c2); account numbers are masked."""
    return {
        "transfer": transfer.public_id,
        "from": mask_account_number(source.account_number),
        "to": mask_account_number(payee.account_number),
        "amount": format_minor(transfer.amount_minor, transfer.currency),
        "currency": transfer.currency,
        "digest": transfer.key_digest,
    }


def password_free_eligible(
    session: Session, *, transfer: TransferRequest, at: datetime, settings: Settings
) -> bool:
    """Small password-free payment: under the customer's per-transfer threshold and,
    with what was already paid password-free today, under the daily one."""
    limits = effective_limits(session.get_one(User, transfer.user_id), settings)
    if transfer.amount_minor > limits.password_free_single_minor:
        return False
    used = _daily_used(
        session,
        customer_id=transfer.customer_id,
        currency=transfer.currency,
        at=at,
        password_free_only=True,
    )
    return used + transfer.amount_minor <= limits.password_free_daily_minor


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
    payee = session.get_one(Account, transfer.to_account_id)
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
            "tail": payee.account_number[-4:],
            "amount": format_minor(transfer.amount_minor, transfer.currency),
            "currency": transfer.currency,
        },
        client=client,
        audit_details={"transfer": transfer.public_id},
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
) -> TransferRequest:
    """Execute once. Needs the transaction password and a code bound to the key data,
    unless it is a small password-free payment."""
    client = client or Client()
    transfer = session.scalars(
        select(TransferRequest)
        .where(TransferRequest.public_id == transfer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if transfer is None or transfer.customer_id != customer_id:
        raise DomainError("transfer_not_found")
    if transfer.status == COMPLETED:
        raise DomainError("transfer_already_confirmed")
    if transfer.status != PENDING:
        raise DomainError("transfer_not_pending")
    if at >= as_utc(transfer.expires_at):
        raise DomainError("transfer_expired")

    source = session.get_one(Account, transfer.from_account_id)
    payee = session.get_one(Account, transfer.to_account_id)
    digest = _digest_of(transfer, source, payee)
    if digest != transfer.key_digest or (key_digest is not None and key_digest != digest):
        raise DomainError("transfer_data_changed")

    # The customer row serialises this customer's confirmations for the daily limit.
    session.execute(select(Customer.id).where(Customer.id == customer_id).with_for_update())
    _check_parties(session, source=source, payee=payee, currency=transfer.currency)
    _check_limits(
        session,
        user_id=transfer.user_id,
        customer_id=customer_id,
        amount_minor=transfer.amount_minor,
        currency=transfer.currency,
        at=at,
        settings=settings,
    )
    if password_free_eligible(session, transfer=transfer, at=at, settings=settings):
        confirmed_with = "password_free"
    else:
        if not transaction_password or not code:
            raise DomainError("transaction_password_required")
        user = session.get_one(User, transfer.user_id)
        row = otp.usable_code(
            session,
            user_id=user.id,
            purpose="transfer",
            binding=digest,
            at=at,
            settings=settings,
        )
        pin_ok = verify_password(user.transaction_pin_hash, transaction_password)
        code_ok = otp.matches(row, code=code, settings=settings)
        if not (pin_ok and code_ok):
            # One answer for either factor, so a session cannot be used as an oracle to
            # guess the PIN; the caller counts what was wrong (see payments.api).
            raise DomainError("second_factor_invalid", pin_wrong=not pin_ok, code_wrong=not code_ok)
        otp.accept(session, row, at=at)
        user.failed_pins = 0
        confirmed_with = "pin+otp"
    payer = session.get_one(Customer, customer_id)
    entry = ledger.post(
        session,
        kind="transfer",
        description=transfer.remark,
        at=at,
        idempotency_key=f"transfer:{transfer.public_id}",
        digest=digest,
        legs=[
            ledger.Leg(
                account_id=source.ledger_account_id,
                amount_minor=-transfer.amount_minor,
                currency=transfer.currency,
                memo=transfer.remark or "转账",
                counterparty_name=transfer.payee_name,
                counterparty_account=payee.account_number,
            ),
            ledger.Leg(
                account_id=payee.ledger_account_id,
                amount_minor=transfer.amount_minor,
                currency=transfer.currency,
                memo=transfer.remark or "转账",
                counterparty_name=payer.name,
                counterparty_account=source.account_number,
            ),
        ],
    )
    transfer.status = COMPLETED
    transfer.confirmed_at = at
    transfer.journal_entry_id = entry.id
    transfer.confirmed_with = confirmed_with
    session.flush()
    _notify_balance_changes(session, transfer=transfer, source=source, payee=payee, at=at)
    audit.append(
        session,
        event="transfer_confirmed",
        outcome="success",
        actor=session.get_one(User, transfer.user_id).public_id,
        at=at,
        client=client,
        customer_id=customer_id,
        details={**_audit_details(transfer, source, payee), "with": confirmed_with},
    )
    return transfer


def _notify_balance_changes(
    session: Session, *, transfer: TransferRequest, source: Account, payee: Account, at: datetime
) -> None:
    """4.1.5.2-b: both customers hear of the change at once. The SMS goes into the outbox in
    this transaction, so it is sent exactly when the money moved, after the commit."""
    when = as_utc(at).astimezone(BANK_TZ).strftime("%m月%d日%H:%M")
    amount = format_grouped(transfer.amount_minor, transfer.currency)
    for account, verb in ((source, "转出"), (payee, "转入")):
        holder = session.get_one(Customer, account.customer_id)
        balance = session.get_one(LedgerAccount, account.ledger_account_id).balance_minor
        notify.enqueue(
            session,
            channel="sms",
            phone=holder.mobile,
            purpose="balance_change",
            at=at,
            text=(
                f"您尾号{account.account_number[-4:]}的账户{when}{verb} {amount} "
                f"{transfer.currency}，余额 {format_grouped(balance, transfer.currency)}。"
            ),
        )


def find_transfer(
    session: Session, *, customer_id: int, transfer_id: str
) -> TransferRequest | None:
    try:
        return get_transfer(session, customer_id=customer_id, transfer_id=transfer_id)
    except DomainError:
        return None


def get_transfer(session: Session, *, customer_id: int, transfer_id: str) -> TransferRequest:
    transfer = session.scalars(
        select(TransferRequest).where(TransferRequest.public_id == transfer_id)
    ).first()
    if transfer is None or transfer.customer_id != customer_id:
        raise DomainError("transfer_not_found")
    return transfer


def list_transfers(session: Session, *, customer_id: int, limit: int = 20) -> list[TransferRequest]:
    return list(
        session.scalars(
            select(TransferRequest)
            .where(TransferRequest.customer_id == customer_id)
            .order_by(TransferRequest.id.desc())
            .limit(limit)
        )
    )


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
        }


def view(
    session: Session, transfer: TransferRequest, *, at: datetime, settings: Settings | None = None
) -> TransferView:
    """What the payer sees. The payee's number is masked, the payee name they typed is not."""
    source = session.get_one(Account, transfer.from_account_id)
    payee = session.get_one(Account, transfer.to_account_id)
    status = transfer.status
    if status == PENDING and at >= as_utc(transfer.expires_at):
        status = EXPIRED
    return TransferView(
        id=transfer.public_id,
        status=status,
        from_account_id=source.public_id,
        from_account_number=mask_account_number(source.account_number),
        to_account_number=mask_account_number(payee.account_number),
        payee_name=transfer.payee_name,
        amount=format_minor(transfer.amount_minor, transfer.currency),
        currency=transfer.currency,
        remark=transfer.remark,
        created_at=as_utc(transfer.created_at),
        expires_at=as_utc(transfer.expires_at),
        confirmed_at=as_utc(transfer.confirmed_at) if transfer.confirmed_at else None,
        key_digest=transfer.key_digest,
        second_factor_required=(
            transfer.confirmed_with != "password_free"
            if status == COMPLETED
            else not (
                settings is not None
                and password_free_eligible(session, transfer=transfer, at=at, settings=settings)
            )
        ),
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
