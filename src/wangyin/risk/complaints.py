"""Customers' complaints and the bank's answers on cases (issue 7 §5, 4.4-d1, 4.1.5.2-g).

A complaint opens a case (priority 2 when it is about one of the customer's transfers,
else 3); the customer sees its status, outcome and the bank's messages. An officer
working a case contacts its customer (a message on the customer's complaint page and an
SMS) or freezes the customer through the back office's `freeze` command. Keyword-only,
one unit of work each, never commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from wangyin.backoffice import service as backoffice
from wangyin.backoffice.models import Command
from wangyin.backoffice.service import CurrentStaff
from wangyin.config import Settings
from wangyin.errors import DomainError
from wangyin.identity.models import Customer
from wangyin.notify import service as notify
from wangyin.payments import service as payments
from wangyin.security import audit
from wangyin.security.audit import Client

from . import service as risk
from .models import CaseMessage, RiskCase

SUBJECT_MAX, TEXT_MAX, MESSAGE_MAX = 100, 2000, 1000
FREEZE_SCOPES = ("transfers", "all")


def _clean(text: str, *, max_length: int) -> str:
    text = text.strip()
    if not text or len(text) > max_length:
        raise DomainError("validation_error")
    return text


def file_complaint(
    session: Session,
    *,
    customer_id: int,
    subject: str,
    text: str,
    transfer_id: str | None,
    at: datetime,
    client: Client | None = None,
) -> RiskCase:
    """The customer's complaint opens a case. A transfer named must be the customer's own
    (another customer's looks like none: `transfer_not_found`)."""
    subject, text = _clean(subject, max_length=SUBJECT_MAX), _clean(text, max_length=TEXT_MAX)
    transfer_id = (transfer_id or "").strip() or None
    if transfer_id is not None:
        payments.get_transfer(session, customer_id=customer_id, transfer_id=transfer_id)
    case = risk.open_case(
        session,
        kind="complaint",
        customer_id=customer_id,
        priority=risk.PRIORITY_COMPLAINT_TRANSFER if transfer_id else risk.PRIORITY_COMPLAINT,
        note="",
        at=at,
        subject=subject,
        body=text,
        transfer_id=transfer_id,
    )
    session.add(CaseMessage(case_id=case.id, sender="customer", text=text, at=at))
    audit.append(
        session,
        event="complaint_filed",
        outcome="success",
        actor="customer",
        at=at,
        client=client,
        customer_id=customer_id,
        details={"case": case.id},
    )
    return case


@dataclass(frozen=True)
class ComplaintView:
    case: RiskCase
    messages: list[CaseMessage]


def complaints_of(session: Session, *, customer_id: int) -> list[RiskCase]:
    """The customer's complaints, newest first."""
    return list(
        session.scalars(
            select(RiskCase)
            .where(RiskCase.customer_id == customer_id, RiskCase.kind == "complaint")
            .order_by(RiskCase.opened_at.desc(), RiskCase.id.desc())
        )
    )


def complaint_of(session: Session, *, customer_id: int, complaint_id: str) -> ComplaintView:
    """One of the customer's complaints with its messages; anyone else's is not found."""
    case = session.scalars(select(RiskCase).where(RiskCase.public_id == complaint_id)).first()
    if case is None or case.kind != "complaint" or case.customer_id != customer_id:
        raise DomainError("complaint_not_found")
    return ComplaintView(case, messages(session, case_id=case.id))


def messages(session: Session, *, case_id: int) -> list[CaseMessage]:
    return list(
        session.scalars(
            select(CaseMessage)
            .where(CaseMessage.case_id == case_id)
            .order_by(CaseMessage.at, CaseMessage.id)
        )
    )


def bank_messages_to(session: Session, *, customer_id: int, limit: int = 20) -> list[CaseMessage]:
    """What the bank wrote to the customer on any of their cases, newest first."""
    return list(
        session.scalars(
            select(CaseMessage)
            .join(RiskCase, RiskCase.id == CaseMessage.case_id)
            .where(RiskCase.customer_id == customer_id, CaseMessage.sender == "bank")
            .order_by(CaseMessage.at.desc(), CaseMessage.id.desc())
            .limit(limit)
        )
    )


def _customer_of(session: Session, case: RiskCase) -> Customer:
    if case.customer_id is None:
        raise DomainError("case_has_no_customer")
    return session.get_one(Customer, case.customer_id)


def contact_customer(
    session: Session,
    *,
    case_id: int,
    staff_id: str,
    text: str,
    at: datetime,
    client: Client | None = None,
) -> CaseMessage:
    """The assignee writes to the case's customer: the message is on their complaint page
    (and in the bank's messages), and an SMS tells them to read it."""
    case = risk.worked_case(session, case_id=case_id, staff_id=staff_id)
    customer = _customer_of(session, case)
    message = CaseMessage(
        case_id=case.id,
        sender="bank",
        staff_id=staff_id,
        text=_clean(text, max_length=MESSAGE_MAX),
        at=at,
    )
    session.add(message)
    risk.append_note(case, staff_id=staff_id, note="contacted the customer", at=at)
    notify.enqueue(
        session,
        channel="sms",
        phone=customer.mobile,
        purpose="case_message",
        at=at,
        text="【网银】您有一条来自银行的新消息，请登录网上银行在“投诉与建议”中查看。",
    )
    audit.append(
        session,
        event="case_customer_contacted",
        outcome="success",
        actor=staff_id,
        at=at,
        client=client,
        customer_id=customer.id,
        details={"case": case.id},
    )
    session.flush()
    return message


def freeze_customer(
    session: Session,
    *,
    case_id: int,
    scope: str,
    reason: str,
    staff: CurrentStaff,
    client: Client,
    at: datetime,
    settings: Settings,
) -> Command:
    """The assignee freezes the case's customer (transfers or everything) through the
    back office's `freeze` command: the same pipeline and audit as at the counter (a
    protective kind, in effect when proposed; unfreezing needs a checker)."""
    if scope not in FREEZE_SCOPES:
        raise DomainError("validation_error")
    reason = _clean(reason, max_length=200)
    case = risk.worked_case(session, case_id=case_id, staff_id=staff.public_id)
    customer = _customer_of(session, case)
    command = backoffice.propose(
        session,
        customer_id=customer.public_id,
        kind="freeze",
        payload={"scope": scope},
        reason=f"case {case.public_id}: {reason}",
        staff=staff,
        client=client,
        at=at,
        settings=settings,
    )
    risk.append_note(
        case, staff_id=staff.public_id, note=f"froze {scope} ({command.public_id})", at=at
    )
    return command


def commands_of(session: Session, *, case: RiskCase) -> list[Command]:
    """The back-office commands about the case's customer (its freezes among them)."""
    if case.customer_id is None:
        return []
    return list(
        session.scalars(
            select(Command)
            .where(Command.customer_id == case.customer_id, Command.created_at >= case.opened_at)
            .order_by(Command.id.desc())
            .limit(20)
        )
    )
