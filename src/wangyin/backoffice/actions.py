"""The kinds of command the back office runs (the Fineract-style pipeline's handlers).

Each kind validates its payload when proposed (so a checker never approves what cannot
run) and executes in the approving transaction, reusing the customer-side services
(identity, security_center). Another domain plugs a kind in with `register` (risk
control's blacklist and case actions, issue 7 §3-§5) and its permissions.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from wangyin.backoffice.models import PinReset
from wangyin.config import Settings
from wangyin.errors import DomainError
from wangyin.identity import security_center, validators
from wangyin.identity import service as identity
from wangyin.identity.models import Customer, User, UserSession
from wangyin.ids import new_public_id
from wangyin.money import format_grouped, parse_amount
from wangyin.notify import service as notify
from wangyin.security import audit
from wangyin.security.audit import Client
from wangyin.security.fields import lookup_hash

PIN_RESET_MINUTES = 30


@dataclass(frozen=True)
class Context:
    actor: str  # staff:<public id> of whoever makes it run (the checker, or a direct maker)
    client: Client
    at: datetime
    settings: Settings


Validate = Callable[..., dict[str, Any]]
Execute = Callable[..., None]


@dataclass(frozen=True)
class Handler:
    validate: Validate  # (session, *, customer, payload, settings) -> clean payload
    execute: Execute  # (session, *, customer, payload, context) -> None


_HANDLERS: dict[str, Handler] = {}


def register(kind: str, handler: Handler) -> None:
    if kind in _HANDLERS:
        raise ValueError(f"command kind {kind!r} is registered twice")
    _HANDLERS[kind] = handler


def handler(kind: str) -> Handler:
    try:
        return _HANDLERS[kind]
    except KeyError:
        raise DomainError("not_found") from None


def _user(session: Session, customer: Customer, *, lock: bool = False) -> User:
    query = select(User).where(User.customer_id == customer.id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    user = session.scalars(query).first()
    if user is None:
        raise DomainError("not_registered")
    return user


def lock_target(session: Session, customer: Customer) -> None:
    """Lock the customer's online-banking user row (if any) for the command's transaction,
    before anything else of the customer's is locked (the audit chain's head included)."""
    session.execute(select(User.id).where(User.customer_id == customer.id).with_for_update())


def _text(payload: dict[str, Any], key: str, *, max_length: int = 100) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise DomainError("validation_error")
    return " ".join(value.split())


# --- open the professional edition after the written confirmation (4.1.5.1-a) ---------


def _validate_upgrade(
    session: Session, *, customer: Customer, payload: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    user = _user(session, customer)
    if user.edition == "professional":
        raise DomainError("already_professional")
    # The reference of the signed paper form the teller keeps (never its content).
    return {"confirmation": _text(payload, "confirmation", max_length=60)}


def _upgrade(
    session: Session, *, customer: Customer, payload: dict[str, Any], context: Context
) -> None:
    user = _user(session, customer, lock=True)
    if user.edition == "professional":
        raise DomainError("already_professional")
    identity.upgrade_to_professional(session, login=customer.public_id, at=context.at)
    audit.append(
        session, event="edition_upgraded", outcome="success", actor=context.actor,
        at=context.at, client=context.client, customer_id=customer.id,
        details={"edition": "professional", "confirmation": payload["confirmation"]},
    )


# --- unlock a login (direct) -----------------------------------------------------------


def _validate_nothing(
    session: Session, *, customer: Customer, payload: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    _user(session, customer)
    return {}


def _unlock(
    session: Session, *, customer: Customer, payload: dict[str, Any], context: Context
) -> None:
    user = _user(session, customer, lock=True)
    identity.unlock(session, login=user.username, staff=context.actor, at=context.at)


# --- freeze (direct) and unfreeze (maker-checker) --------------------------------------


def _validate_freeze(
    session: Session, *, customer: Customer, payload: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    _user(session, customer)
    scope = payload.get("scope")
    if scope not in ("transfers", "all"):
        raise DomainError("validation_error")
    return {"scope": scope}


def _freeze(
    session: Session, *, customer: Customer, payload: dict[str, Any], context: Context
) -> None:
    user = _user(session, customer, lock=True)
    security_center.freeze(
        session, user_id=user.id, scope=payload["scope"], client=context.client,
        at=context.at, actor=context.actor,
    )


def _unfreeze(
    session: Session, *, customer: Customer, payload: dict[str, Any], context: Context
) -> None:
    user = _user(session, customer, lock=True)
    user.freeze = "none"
    user.failed_pins = 0
    audit.append(
        session, event="unfrozen", outcome="success", actor=context.actor, at=context.at,
        client=context.client, customer_id=customer.id, details={"with": "counter"},
    )


# --- reset a forgotten transaction password (the customer sets it) ---------------------


def _validate_identity_checked(
    session: Session, *, customer: Customer, payload: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    """The teller types the number of the ID card the customer presents: it must be the
    customer's (compared by its keyed hash) and is not kept in the command."""
    _user(session, customer)
    try:
        presented = validators.normalize_id_number(str(payload.get("presented_id_number", "")))
    except DomainError:
        presented = ""
    if not presented or lookup_hash(presented) != customer.id_number_hash:
        raise DomainError("wrong_id_number")
    return {"identity_checked": True}


def code_hash(user_public_id: str, code: str) -> str:
    """Keyed to the user, so one code's hash matches no other customer's reset."""
    return hashlib.sha256(f"wangyin pin reset|{user_public_id}|{code}".encode()).hexdigest()


def _reset_pin(
    session: Session, *, customer: Customer, payload: dict[str, Any], context: Context
) -> None:
    """A one-time code to the reserved mobile; the customer sets the new PIN with it
    (`pin_reset.finish`). Staff never see the code nor the PIN."""
    user = _user(session, customer, lock=True)
    session.execute(  # one reset open at a time
        update(PinReset)
        .where(PinReset.user_id == user.id, PinReset.used_at.is_(None))
        .values(used_at=context.at)
    )
    code = f"{secrets.randbelow(10**8):08d}"
    session.add(
        PinReset(
            public_id=new_public_id(),
            user_id=user.id,
            code_hash=code_hash(user.public_id, code),
            attempts=0,
            created_at=context.at,
            expires_at=context.at + timedelta(minutes=PIN_RESET_MINUTES),
        )
    )
    notify.enqueue(
        session,
        channel="sms",
        phone=customer.mobile,
        purpose="pin_reset",
        at=context.at,
        text=(
            f"您在柜面申请重置交易密码，重置码 {code}，{PIN_RESET_MINUTES} 分钟内有效。"
            "请登录网上银行，在“重置交易密码”页面输入登录名、重置码并设置新交易密码。"
            "工作人员不会向您索要此码。"
        ),
    )
    audit.append(
        session, event="pin_reset_opened", outcome="success", actor=context.actor,
        at=context.at, client=context.client, customer_id=customer.id,
    )


# --- change limits within the bank's maxima --------------------------------------------


def _minor(payload: dict[str, Any], key: str) -> int:
    value = payload.get(key)
    if not isinstance(value, str):
        raise DomainError("invalid_amount")
    minor = parse_amount(value, "CNY")
    if minor <= 0:
        raise DomainError("amount_not_positive")
    return minor


def _validate_limits(
    session: Session, *, customer: Customer, payload: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    _user(session, customer)
    single, daily = _minor(payload, "single"), _minor(payload, "daily")
    for value, maximum in (
        (single, settings.single_transfer_limit_minor),
        (daily, settings.daily_transfer_limit_minor),
    ):
        if value > maximum:
            raise DomainError("limit_above_bank_maximum", limit=format_grouped(maximum, "CNY"))
    return {"single_minor": single, "daily_minor": daily}


def _set_limits(
    session: Session, *, customer: Customer, payload: dict[str, Any], context: Context
) -> None:
    user = _user(session, customer, lock=True)
    security_center.set_limits(
        session, user_id=user.id, single_minor=payload["single_minor"],
        daily_minor=payload["daily_minor"], client=context.client, at=context.at,
        settings=context.settings, staff=context.actor,
    )


# --- close online banking --------------------------------------------------------------


def _close(
    session: Session, *, customer: Customer, payload: dict[str, Any], context: Context
) -> None:
    user = _user(session, customer, lock=True)
    user.status = "closed"
    session.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        .values(ended_at=context.at)
    )
    audit.append(
        session, event="online_banking_closed", outcome="success", actor=context.actor,
        at=context.at, client=context.client, customer_id=customer.id,
    )


register("upgrade_professional", Handler(_validate_upgrade, _upgrade))
register("unlock_login", Handler(_validate_nothing, _unlock))
register("freeze", Handler(_validate_freeze, _freeze))
register("unfreeze", Handler(_validate_nothing, _unfreeze))
register("reset_pin", Handler(_validate_identity_checked, _reset_pin))
register("set_limits", Handler(_validate_limits, _set_limits))
register("close_online_banking", Handler(_validate_nothing, _close))
