"""Transfers the way the API does them: prepare and confirm in separate transactions,
each wrapped in idempotency.once so the key and the first response are stored."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from factories.bank import DEFAULT_PIN, Person
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.idempotency import service as idempotency
from wangyin.identity import otp
from wangyin.notify import service as notify
from wangyin.payments import service as payments
from wangyin.security.audit import Client
from wangyin.uow import run_write

Result = tuple[int, dict[str, Any], bool]


def new_key() -> str:
    return uuid.uuid4().hex


def prepare(
    db: Database,
    payer: Person,
    *,
    to: str,
    payee_name: str,
    amount: str,
    at: datetime,
    settings: Settings,
    key: str | None = None,
    currency: str = "CNY",
    remark: str = "",
    from_account_id: str | None = None,
) -> Result:
    body = {
        "from_account_id": from_account_id or payer.account.public_id,
        "to_account_number": to,
        "payee_name": payee_name,
        "amount": amount,
        "currency": currency,
        "remark": remark,
    }

    def action(s: Session) -> Result:
        def create() -> tuple[int, dict[str, Any]]:
            transfer = payments.prepare(
                s,
                customer_id=payer.customer.id,
                user_id=payer.user.id,
                **body,
                at=at,
                settings=settings,
            )
            return 201, payments.view(s, transfer, at=at).as_json()

        return idempotency.once(
            s,
            scope=payer.user.public_id,
            key=key or new_key(),
            request={"op": "transfer.prepare", **body},
            at=at,
            action=create,
        )

    return run_write(db, action)


def second_factor(
    s: Session, payer: Person, transfer_id: str, *, at: datetime, settings: Settings
) -> tuple[str | None, str | None]:
    """What the customer types to confirm: the transaction password and the code the bank
    just texted them (read back from the outbox), unless no code can be sent any more.
    A small password-free payment needs neither."""
    transfer = payments.find_transfer(s, customer_id=payer.customer.id, transfer_id=transfer_id)
    if transfer is not None and payments.password_free_eligible(
        s, transfer=transfer, at=at, settings=settings
    ):
        return None, None
    try:
        payments.send_code(
            s,
            customer_id=payer.customer.id,
            transfer_id=transfer_id,
            channel="sms",
            client=Client(),
            at=at,
            settings=settings,
        )
    except DomainError:
        return DEFAULT_PIN, None  # unknown, already confirmed or expired: confirm says why
    return DEFAULT_PIN, latest_code(s, payer.customer.mobile)


def latest_code(s: Session, phone: str) -> str:
    """The newest one-time code texted to this phone (balance notices carry none)."""
    for message in notify.messages_to(s, phone=phone, limit=10):
        if message.purpose in otp.PURPOSES:
            found = re.search(r"\b(\d{6})\b", notify.body_of(message))
            assert found, "no code in the message"
            return found.group(1)
    raise AssertionError(f"no one-time code was sent to {phone}")


def confirm_action(
    payer: Person,
    transfer_id: str,
    *,
    at: datetime,
    settings: Settings,
    key: str | None = None,
    key_digest: str | None = None,
    acknowledged: bool = False,
) -> Callable[[Session], Result]:
    """The confirm transaction's body, for tests that drive the transaction themselves."""
    key = key or new_key()

    def action(s: Session) -> Result:
        def execute() -> tuple[int, dict[str, Any]]:
            pin, code = second_factor(s, payer, transfer_id, at=at, settings=settings)
            transfer = payments.confirm(
                s,
                customer_id=payer.customer.id,
                transfer_id=transfer_id,
                key_digest=key_digest,
                transaction_password=pin,
                code=code,
                at=at,
                settings=settings,
                acknowledged=acknowledged,
            )
            return 200, payments.view(s, transfer, at=at).as_json()

        return idempotency.once(
            s,
            scope=payer.user.public_id,
            key=key,
            request={
                "op": "transfer.confirm",
                "id": transfer_id,
                "key_digest": key_digest,
                "acknowledged": acknowledged,
            },
            at=at,
            action=execute,
        )

    return action


def confirm(
    db: Database,
    payer: Person,
    transfer_id: str,
    *,
    at: datetime,
    settings: Settings,
    key: str | None = None,
    key_digest: str | None = None,
    acknowledged: bool = False,
) -> Result:
    action = confirm_action(
        payer,
        transfer_id,
        at=at,
        settings=settings,
        key=key,
        key_digest=key_digest,
        acknowledged=acknowledged,
    )
    return run_write(db, action)


def pay(
    db: Database,
    payer: Person,
    payee: Person,
    amount: str,
    *,
    at: datetime,
    settings: Settings,
    remark: str = "",
) -> dict[str, Any]:
    """Prepare and confirm at once; returns the confirmed transfer's JSON."""
    _, prepared, _ = prepare(
        db,
        payer,
        to=payee.account.account_number,
        payee_name=payee.name,
        amount=amount,
        at=at,
        settings=settings,
        remark=remark,
    )
    _, confirmed, _ = confirm(db, payer, prepared["id"], at=at, settings=settings)
    return confirmed
