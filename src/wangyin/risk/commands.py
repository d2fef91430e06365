"""Risk control's kinds of back-office command (maker-checker through the back office's
one pipeline, `backoffice.service.propose` / `approve`):

- `blacklist_add`, `blacklist_expire`: a risk officer proposes, another risk officer or a
  supervisor approves; they concern no customer. The payload keeps the listed number
  only as its keyed hash and its mask (a command's payload holds no personal number).
- `aml_review`: a risk officer proposes to open or close a high-risk sign-up's online
  banking; a supervisor approves (the supervisor approval queue, 4.4-a2).

Imported by the risk API (so the kinds are registered whenever the back office runs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wangyin.backoffice import actions
from wangyin.backoffice.actions import Context, Handler
from wangyin.backoffice.models import Command
from wangyin.clock import as_utc
from wangyin.config import Settings
from wangyin.errors import DomainError
from wangyin.identity.models import Customer
from wangyin.risk import aml
from wangyin.risk import service as risk
from wangyin.risk.models import RiskAssessment

BLACKLIST_ADD = "blacklist_add"
BLACKLIST_EXPIRE = "blacklist_expire"
AML_REVIEW = "aml_review"


def _text(payload: dict[str, Any], key: str, *, max_length: int = 300) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise DomainError("validation_error")
    return " ".join(value.split())


def _no_customer(customer: Customer | None) -> None:
    if customer is not None:
        raise DomainError("validation_error")


def _validate_add(
    session: Session, *, customer: Customer | None, payload: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    _no_customer(customer)
    kind = payload.get("kind")
    value = payload.get("value")
    if not isinstance(kind, str) or not isinstance(value, str) or len(value) > 64:
        raise DomainError("validation_error")
    clean: dict[str, Any] = {"kind": kind, **risk.blacklist_value(kind, value)}
    clean["listing_reason"] = _text(payload, "listing_reason")
    expires = payload.get("expires_at")
    if expires:
        try:
            at = as_utc(datetime.fromisoformat(str(expires)))
        except ValueError as exc:
            raise DomainError("validation_error") from exc
        clean["expires_at"] = at.isoformat()
    return clean


def _add(
    session: Session, *, customer: Customer | None, payload: dict[str, Any], context: Context
) -> None:
    expires = payload.get("expires_at")
    risk.add_kept_entry(
        session,
        kind=payload["kind"],
        kept={k: payload[k] for k in ("value_hash", "cidr", "masked") if k in payload},
        reason=payload["listing_reason"],
        staff_id=context.actor,
        at=context.at,
        expires_at=datetime.fromisoformat(expires) if expires else None,
    )


def _validate_expire(
    session: Session, *, customer: Customer | None, payload: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    _no_customer(customer)
    try:
        entry_id = int(payload.get("entry_id", ""))
    except (TypeError, ValueError) as exc:
        raise DomainError("blacklist_entry_not_found") from exc
    entry = risk.get_entry(session, entry_id=entry_id)
    if entry.expired_reason is not None:
        raise DomainError("blacklist_entry_expired")
    return {"entry_id": entry.id, "masked": entry.masked, "expiry_reason": _text(payload, "reason")}


def _expire(
    session: Session, *, customer: Customer | None, payload: dict[str, Any], context: Context
) -> None:
    risk.expire_entry(
        session,
        entry_id=int(payload["entry_id"]),
        reason=payload["expiry_reason"],
        staff_id=context.actor,
        at=context.at,
    )


def _validate_review(
    session: Session, *, customer: Customer | None, payload: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    try:
        assessment_id = int(payload.get("assessment_id", ""))
    except (TypeError, ValueError) as exc:
        raise DomainError("review_not_pending") from exc
    assessment = session.get(RiskAssessment, assessment_id)
    if (
        assessment is None
        or customer is None
        or assessment.customer_id != customer.id
        or assessment.review != "pending"
    ):
        raise DomainError("review_not_pending")
    if payload.get("decision") not in ("approve", "reject"):
        raise DomainError("validation_error")
    waiting = session.scalars(
        select(Command.id).where(
            Command.kind == AML_REVIEW,
            Command.status == "PENDING",
            Command.customer_id == customer.id,
        )
    ).first()
    if waiting is not None:
        raise DomainError("review_already_proposed")
    return {"assessment_id": assessment.id, "decision": payload["decision"]}


def _review(
    session: Session, *, customer: Customer | None, payload: dict[str, Any], context: Context
) -> None:
    aml.decide(
        session,
        assessment_id=int(payload["assessment_id"]),
        approve=payload["decision"] == "approve",
        reason="maker-checker",
        staff_id=context.actor,
        at=context.at,
    )


actions.register(BLACKLIST_ADD, Handler(_validate_add, _add))
actions.register(BLACKLIST_EXPIRE, Handler(_validate_expire, _expire))
actions.register(AML_REVIEW, Handler(_validate_review, _review))
