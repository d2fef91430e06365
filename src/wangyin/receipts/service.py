"""Receipts of completed transfers, and their public verification.

The verification code is an HMAC of the receipt's key data under the keyring's audit key
(its version in the code, so codes keep verifying after `keys rotate`): nothing is stored,
and a receipt whose amount, parties or time were altered no longer verifies. The public
page asks for the reference and the code together and answers alike for an unknown
reference and a wrong code, so it tells nothing to a guesser.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from wangyin.accounts.models import Account
from wangyin.clock import BANK_TZ, as_utc
from wangyin.errors import DomainError
from wangyin.identity.models import Customer
from wangyin.money import format_grouped
from wangyin.payments.models import COMPLETED, TransferRequest
from wangyin.security.crypto import constant_time_equal, keyed_hash
from wangyin.security.keys import KeyringError, load_keyring
from wangyin.security.masking import mask_account_number, mask_name

BANK_NAME = "网银城市商业银行"
_CODE = re.compile(r"(a[0-9]{1,4})-([A-Z2-7]{4})-([A-Z2-7]{4})-([A-Z2-7]{4})")


@dataclass(frozen=True)
class Receipt:
    reference: str
    verification_code: str
    completed_at: datetime
    payer_name: str
    payer_account: str
    payee_name: str
    payee_account: str
    amount: str  # grouped, "1,234.56"
    currency: str
    remark: str
    channel: str  # how it was confirmed: pin+otp | password_free

    @property
    def completed_local(self) -> str:
        return as_utc(self.completed_at).astimezone(BANK_TZ).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class VerifiedReceipt:
    """What the public page shows: enough to match a paper copy, masked."""

    reference: str
    completed_at: str
    payer_name: str
    payer_account: str
    payee_name: str
    payee_account: str
    amount: str
    currency: str


def _mac(key_id: str, fields: tuple[str, ...]) -> str:
    key = load_keyring().audit.key(key_id)
    digest = bytes.fromhex(keyed_hash(key, b"receipt|" + "|".join(fields).encode()))
    letters = base64.b32encode(digest).decode()[:12]
    return f"{key_id}-{letters[:4]}-{letters[4:8]}-{letters[8:]}"


def _fields(row: _Row) -> tuple[str, ...]:
    return (
        row.reference,
        as_utc(row.completed_at).isoformat(),
        row.payer_account,
        row.payee_account,
        row.payee_name,
        str(row.amount_minor),
        row.currency,
    )


@dataclass(frozen=True)
class _Row:
    reference: str
    customer_id: int
    completed_at: datetime
    payer_name: str
    payer_account: str
    payee_name: str
    payee_account: str
    amount_minor: int
    currency: str
    remark: str
    confirmed_with: str


def _read(session: Session, reference: str) -> _Row | None:
    source, payee = aliased(Account), aliased(Account)
    found = session.execute(
        select(
            TransferRequest,
            source.account_number,
            payee.account_number,
            Customer.name,
        )
        .join(source, source.id == TransferRequest.from_account_id)
        .join(payee, payee.id == TransferRequest.to_account_id)
        .join(Customer, Customer.id == TransferRequest.customer_id)
        .where(TransferRequest.public_id == reference, TransferRequest.status == COMPLETED)
    ).first()
    if found is None:
        return None
    transfer, payer_account, payee_account, payer_name = found
    assert transfer.confirmed_at is not None  # noqa: S101 - COMPLETED rows have it
    return _Row(
        reference=transfer.public_id,
        customer_id=transfer.customer_id,
        completed_at=transfer.confirmed_at,
        payer_name=payer_name,
        payer_account=payer_account,
        payee_name=transfer.payee_name,
        payee_account=payee_account,
        amount_minor=transfer.amount_minor,
        currency=transfer.currency,
        remark=transfer.remark,
        confirmed_with=transfer.confirmed_with,
    )


def receipt_of(session: Session, *, customer_id: int, transfer_id: str) -> Receipt:
    """The payer's receipt of one of their completed transfers (404 for anything else)."""
    row = _read(session, transfer_id)
    if row is None or row.customer_id != customer_id:
        raise DomainError("receipt_not_found")
    return Receipt(
        reference=row.reference,
        verification_code=_mac(load_keyring().audit.active, _fields(row)),
        completed_at=row.completed_at,
        payer_name=row.payer_name,
        payer_account=row.payer_account,
        payee_name=row.payee_name,
        payee_account=row.payee_account,
        amount=format_grouped(row.amount_minor, row.currency),
        currency=row.currency,
        remark=row.remark,
        channel=row.confirmed_with,
    )


def verify(session: Session, *, reference: str, code: str) -> VerifiedReceipt:
    """Anyone may check a receipt: the reference and its code, or `receipt_not_verified`."""
    normalized = "-".join(code.strip().replace(" ", "").upper().split("-"))
    match = _CODE.fullmatch(normalized[:1].lower() + normalized[1:]) if normalized else None
    row = _read(session, reference.strip()[:40]) if match else None
    if row is None or match is None:
        raise DomainError("receipt_not_verified")
    try:
        expected = _mac(match.group(1), _fields(row))
    except KeyringError:
        raise DomainError("receipt_not_verified") from None
    if not constant_time_equal(expected.upper(), normalized.upper()):
        raise DomainError("receipt_not_verified")
    return VerifiedReceipt(
        reference=row.reference,
        completed_at=as_utc(row.completed_at).astimezone(BANK_TZ).strftime("%Y-%m-%d %H:%M"),
        payer_name=mask_name(row.payer_name),
        payer_account=mask_account_number(row.payer_account),
        payee_name=mask_name(row.payee_name),
        payee_account=mask_account_number(row.payee_account),
        amount=format_grouped(row.amount_minor, row.currency),
        currency=row.currency,
    )
