"""Risk control's use cases, shared by the JSON APIs and the pages: one transaction each.

Staff (the back office's `CurrentStaff`): the blacklist (changes proposed as commands),
the AML review queue (a risk officer proposes, a supervisor approves), the case queue and
a case's actions. Customers: complaints and the bank's messages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from wangyin.backoffice import service as backoffice
from wangyin.backoffice.models import Command
from wangyin.backoffice.service import CurrentStaff
from wangyin.errors import DomainError
from wangyin.identity.models import Customer
from wangyin.identity.service import CurrentUser
from wangyin.runtime import AppState
from wangyin.security.audit import Client
from wangyin.security.masking import mask_name
from wangyin.security.models import AuditRecord
from wangyin.uow import run_read, run_write

from . import aml, commands, complaints
from . import service as risk
from .models import BlacklistEntry, CaseMessage, Declaration, RiskAssessment, RiskCase

# --- the blacklist ---------------------------------------------------------------------


@dataclass(frozen=True)
class EntryView:
    entry: BlacklistEntry
    live: bool


def blacklist(*, state: AppState) -> list[EntryView]:
    now = state.clock.now()
    return run_read(
        state.db,
        lambda s: [EntryView(e, risk.is_live(e, at=now)) for e in risk.list_entries(s)],
    )


def pending_commands(*, state: AppState, kinds: tuple[str, ...]) -> list[Command]:
    return run_read(
        state.db,
        lambda s: [
            c for c in backoffice.list_commands(s, status="PENDING", limit=200) if c.kind in kinds
        ],
    )


def _propose(
    state: AppState,
    *,
    staff: CurrentStaff,
    client: Client,
    kind: str,
    payload: dict[str, Any],
    reason: str,
    customer_id: str | None = None,
) -> Command:
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: backoffice.propose(
            s,
            customer_id=customer_id,
            kind=kind,
            payload=payload,
            reason=reason,
            staff=staff,
            client=client,
            at=now,
            settings=state.settings,
        ),
    )


def propose_listing(
    *,
    state: AppState,
    staff: CurrentStaff,
    client: Client,
    kind: str,
    value: str,
    reason: str,
    expires_at: datetime | None,
) -> Command:
    """A listing waits for a second officer or a supervisor (maker-checker)."""
    payload: dict[str, Any] = {"kind": kind, "value": value, "listing_reason": reason}
    if expires_at is not None:
        payload["expires_at"] = expires_at.isoformat()
    return _propose(
        state,
        staff=staff,
        client=client,
        kind=commands.BLACKLIST_ADD,
        payload=payload,
        reason=reason,
    )


def propose_expiry(
    *, state: AppState, staff: CurrentStaff, client: Client, entry_id: int, reason: str
) -> Command:
    return _propose(
        state,
        staff=staff,
        client=client,
        kind=commands.BLACKLIST_EXPIRE,
        payload={"entry_id": entry_id, "reason": reason},
        reason=reason,
    )


# --- the AML review queue ----------------------------------------------------------------


@dataclass(frozen=True)
class ReviewView:
    assessment: RiskAssessment
    factors: dict[str, int]
    customer_public_id: str
    customer_name: str  # masked
    declaration: Declaration | None
    proposal: Command | None  # a decision waiting for the supervisor


def _review_view(s: Session, assessment: RiskAssessment) -> ReviewView:
    customer = s.get_one(Customer, assessment.customer_id)
    waiting = [
        c
        for c in backoffice.list_commands(s, status="PENDING", limit=200)
        if c.kind == commands.AML_REVIEW and c.customer_id == customer.id
    ]
    return ReviewView(
        assessment=assessment,
        factors=json.loads(assessment.factors),
        customer_public_id=customer.public_id,
        customer_name=mask_name(customer.name),
        declaration=aml.declaration_of(s, customer_id=customer.id),
        proposal=waiting[0] if waiting else None,
    )


def reviews(*, state: AppState) -> list[ReviewView]:
    return run_read(state.db, lambda s: [_review_view(s, a) for a in aml.pending(s)])


def review(*, state: AppState, assessment_id: int) -> ReviewView:
    def read(s: Session) -> ReviewView:
        assessment = s.get(RiskAssessment, assessment_id)
        if assessment is None:
            raise DomainError("review_not_pending")
        return _review_view(s, assessment)

    return run_read(state.db, read)


def propose_review(
    *,
    state: AppState,
    staff: CurrentStaff,
    client: Client,
    assessment_id: int,
    approve: bool,
    reason: str,
) -> Command:
    """A risk officer's recommendation; the supervisor's approval of it decides."""
    customer_id = run_read(state.db, lambda s: review_customer(s, assessment_id=assessment_id))
    return _propose(
        state,
        staff=staff,
        client=client,
        kind=commands.AML_REVIEW,
        payload={"assessment_id": assessment_id, "decision": "approve" if approve else "reject"},
        reason=reason,
        customer_id=customer_id,
    )


def review_customer(s: Session, *, assessment_id: int) -> str:
    assessment = s.get(RiskAssessment, assessment_id)
    if assessment is None:
        raise DomainError("review_not_pending")
    return s.get_one(Customer, assessment.customer_id).public_id


# --- cases -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseRow:
    case: RiskCase
    age_hours: float
    sla_hours: int
    sla_breached: bool


def _row(case: RiskCase, at: datetime) -> CaseRow:
    age = risk.age_hours(case, at=at)
    return CaseRow(case, age, risk.SLA_HOURS.get(case.priority, 72), risk.sla_breached(case, age))


def case_queue(*, state: AppState) -> list[CaseRow]:
    now = state.clock.now()
    return run_read(state.db, lambda s: [_row(c, now) for c in risk.list_cases(s)])


@dataclass(frozen=True)
class CaseDetail:
    row: CaseRow
    customer_public_id: str | None
    customer_name: str | None  # masked
    messages: list[CaseMessage]
    commands: list[Command]
    timeline: list[AuditRecord]  # the customer's operations, newest first (4.4-c2)


def case_detail(*, state: AppState, case_id: int) -> CaseDetail:
    now = state.clock.now()

    def read(s: Session) -> CaseDetail:
        case = risk.get_case(s, case_id=case_id)
        customer = s.get(Customer, case.customer_id) if case.customer_id else None
        return CaseDetail(
            row=_row(case, now),
            customer_public_id=customer.public_id if customer else None,
            customer_name=mask_name(customer.name) if customer else None,
            messages=complaints.messages(s, case_id=case.id),
            commands=complaints.commands_of(s, case=case),
            timeline=risk.timeline(s, case_id=case.id, newest_first=True, limit=50),
        )

    return run_read(state.db, read)


def take_case(*, state: AppState, staff: CurrentStaff, case_id: int) -> CaseRow:
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: _row(risk.assign_case(s, case_id=case_id, staff_id=staff.public_id, at=now), now),
    )


def note_case(*, state: AppState, staff: CurrentStaff, case_id: int, note: str) -> None:
    now = state.clock.now()
    run_write(
        state.db,
        lambda s: risk.add_note(s, case_id=case_id, staff_id=staff.public_id, note=note, at=now),
    )


def close_case(
    *, state: AppState, staff: CurrentStaff, case_id: int, outcome: str, comment: str = ""
) -> CaseRow:
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: _row(
            risk.close_case(
                s,
                case_id=case_id,
                staff_id=staff.public_id,
                outcome=outcome,
                at=now,
                comment=comment,
            ),
            now,
        ),
    )


def contact_customer(
    *, state: AppState, staff: CurrentStaff, client: Client, case_id: int, text: str
) -> CaseMessage:
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: complaints.contact_customer(
            s, case_id=case_id, staff_id=staff.public_id, text=text, at=now, client=client
        ),
    )


def freeze_customer(
    *, state: AppState, staff: CurrentStaff, client: Client, case_id: int, scope: str, reason: str
) -> Command:
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: complaints.freeze_customer(
            s,
            case_id=case_id,
            scope=scope,
            reason=reason,
            staff=staff,
            client=client,
            at=now,
            settings=state.settings,
        ),
    )


# --- customers: complaints -----------------------------------------------------------------


def file_complaint(
    *,
    state: AppState,
    user: CurrentUser,
    client: Client,
    subject: str,
    text: str,
    transfer_id: str | None,
) -> RiskCase:
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: complaints.file_complaint(
            s,
            customer_id=user.customer_id,
            subject=subject,
            text=text,
            transfer_id=transfer_id,
            at=now,
            client=client,
        ),
    )


def my_complaints(*, state: AppState, user: CurrentUser) -> list[RiskCase]:
    return run_read(state.db, lambda s: complaints.complaints_of(s, customer_id=user.customer_id))


def my_complaint(
    *, state: AppState, user: CurrentUser, complaint_id: str
) -> complaints.ComplaintView:
    return run_read(
        state.db,
        lambda s: complaints.complaint_of(
            s, customer_id=user.customer_id, complaint_id=complaint_id
        ),
    )


def bank_messages(*, state: AppState, user: CurrentUser) -> list[CaseMessage]:
    return run_read(
        state.db, lambda s: complaints.bank_messages_to(s, customer_id=user.customer_id)
    )
