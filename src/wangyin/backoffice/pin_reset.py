"""The customer's half of a counter-approved transaction-password reset: the login name,
the code texted to the reserved mobile, and the new PIN, which only the customer types."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from wangyin.backoffice import errors as _errors  # noqa: F401 - registers the error codes
from wangyin.backoffice.actions import code_hash
from wangyin.backoffice.models import PinReset
from wangyin.clock import as_utc
from wangyin.errors import DomainError
from wangyin.identity import service as identity
from wangyin.identity import validators
from wangyin.identity.models import Customer
from wangyin.identity.passwords import hash_password
from wangyin.security import audit
from wangyin.security.audit import Client
from wangyin.security.crypto import constant_time_equal

MAX_TRIES = 5


def finish(
    session: Session, *, login: str, code: str, new_pin: str, client: Client, at: datetime
) -> None:
    """Each try counts under the reset row's lock; the 5th wrong one ends the reset.
    Refusals commit their count (`keep`)."""
    user = identity.find_user(session, login=login)
    reset = None
    if user is not None:
        reset = session.scalars(
            select(PinReset)
            .where(PinReset.user_id == user.id, PinReset.used_at.is_(None))
            .order_by(PinReset.id.desc())
            .with_for_update()
        ).first()
    if user is None or reset is None or as_utc(reset.expires_at) <= at:
        raise DomainError("pin_reset_invalid")
    reset.attempts += 1
    if reset.attempts >= MAX_TRIES:
        reset.used_at = at  # spent either way: a new reset needs the counter again
    if not constant_time_equal(reset.code_hash, code_hash(user.public_id, code.strip())):
        audit.append(
            session, event="transaction_password_reset", outcome="failure",
            actor=user.public_id, at=at, client=client, customer_id=user.customer_id,
        )
        error = DomainError("pin_reset_invalid")
        error.keep = True
        raise error
    customer = session.get_one(Customer, user.customer_id)
    validators.check_pin_policy(new_pin, id_number=customer.id_number, mobile=customer.mobile)
    user.transaction_pin_hash = hash_password(new_pin)
    user.failed_pins = 0
    reset.used_at = at
    audit.append(
        session, event="transaction_password_reset", outcome="success",
        actor=user.public_id, at=at, client=client, customer_id=user.customer_id,
    )
