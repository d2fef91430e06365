"""Blacklist screening at sign-up and the case basics (issue 7 §3, §5).

Registration calls `screen_registration` inside its own transaction: a hit opens a case
and refuses with the same code as any other mismatch there, kept (committed) so the case
stands while the applicant learns nothing."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from wangyin.clock import as_utc
from wangyin.errors import DomainError
from wangyin.identity.models import User
from wangyin.ids import new_public_id
from wangyin.risk import errors as _errors  # noqa: F401 - registers the error codes
from wangyin.security import audit
from wangyin.security.audit import Client
from wangyin.security.fields import lookup_hash
from wangyin.security.masking import mask_card, mask_id_number, mask_mobile
from wangyin.security.models import AuditRecord

from .models import BlacklistEntry, CaseMessage, RiskCase

# person: the ID number (name kept in the reason); the others: the number itself.
KINDS = ("person", "card", "mobile", "device", "ip_range")
# blacklist_hit, high_risk_signup, complaint: opened here; fraud_hold: by the fraud domain
# (its hold's reference in `reference`, shown as a link to /admin/fraud/holds/{reference}).
CASE_KINDS = ("blacklist_hit", "high_risk_signup", "complaint", "fraud_hold")
PRIORITY_BLACKLIST_HIT = 1
PRIORITY_HIGH_RISK = 2
PRIORITY_COMPLAINT_TRANSFER = 2  # a complaint about one of the customer's transfers
PRIORITY_COMPLAINT = 3
# Hours a case may stay open, by priority, before it is shown as past its SLA.
SLA_HOURS = {1: 4, 2: 24, 3: 72}
# How a case ends (the fixed list officers choose from; the customer sees a complaint's).
OUTCOMES = (
    "resolved",
    "no_action_needed",
    "false_positive",
    "fraud_confirmed",
    "customer_unreachable",
    "referred_to_police",
)


def mask_value(kind: str, value: str) -> str:
    """What staff see of a listed number: masked, never whole (the CIDR in clear)."""
    if kind == "person":
        return mask_id_number(value)
    if kind == "card":
        return mask_card(value)
    if kind == "mobile":
        return mask_mobile(value)
    if kind == "device":
        return value[:4] + "…" if len(value) > 4 else "…"
    return value


def blacklist_value(kind: str, value: str) -> dict[str, str]:
    """A listed value as it is kept: {value_hash | cidr, masked}. Refuses a bad one."""
    value = value.strip()
    if kind not in KINDS or not value:
        raise DomainError("validation_error")
    if kind == "ip_range":
        try:
            cidr = str(ipaddress.ip_network(value, strict=False))
        except ValueError as exc:
            raise DomainError("validation_error") from exc
        return {"cidr": cidr, "masked": cidr}
    return {"value_hash": lookup_hash(value), "masked": mask_value(kind, value)}


def add_entry(
    session: Session,
    *,
    kind: str,
    value: str,
    reason: str,
    staff_id: str,
    at: datetime,
    expires_at: datetime | None = None,
) -> BlacklistEntry:
    """List a value now (the seed, tests; staff propose `blacklist_add` commands)."""
    return add_kept_entry(
        session,
        kind=kind,
        kept=blacklist_value(kind, value),
        reason=reason,
        staff_id=staff_id,
        at=at,
        expires_at=expires_at,
    )


def add_kept_entry(
    session: Session,
    *,
    kind: str,
    kept: dict[str, str],
    reason: str,
    staff_id: str,
    at: datetime,
    expires_at: datetime | None = None,
) -> BlacklistEntry:
    """List a value already reduced to its hash (or CIDR) and mask (`blacklist_value`)."""
    if kind not in KINDS or not reason.strip():
        raise DomainError("validation_error")
    entry = BlacklistEntry(
        kind=kind,
        value_hash=kept.get("value_hash"),
        cidr=kept.get("cidr"),
        masked=kept.get("masked", ""),
        reason=reason.strip(),
        created_by=staff_id,
        created_at=at,
        expires_at=expires_at,
    )
    session.add(entry)
    session.flush()
    audit.append(
        session,
        event="blacklist_added",
        outcome="success",
        actor=staff_id,
        at=at,
        details={"entry": entry.id, "kind": kind},
    )
    return entry


def expire_entry(
    session: Session, *, entry_id: int, reason: str, staff_id: str, at: datetime
) -> None:
    entry = session.get(BlacklistEntry, entry_id, with_for_update=True)
    if entry is None:
        raise DomainError("blacklist_entry_not_found")
    if not reason.strip():
        raise DomainError("validation_error")
    if not is_live(entry, at=at):
        raise DomainError("blacklist_entry_expired")
    entry.expires_at = at
    entry.expired_reason = reason.strip()
    audit.append(
        session,
        event="blacklist_expired",
        outcome="success",
        actor=staff_id,
        at=at,
        details={"entry": entry.id},
    )


def is_live(entry: BlacklistEntry, *, at: datetime) -> bool:
    return entry.expires_at is None or as_utc(entry.expires_at) > at


def list_entries(session: Session, *, limit: int = 200) -> list[BlacklistEntry]:
    """The newest entries first, live and expired (expired ones no longer match)."""
    return list(
        session.scalars(select(BlacklistEntry).order_by(BlacklistEntry.id.desc()).limit(limit))
    )


def get_entry(session: Session, *, entry_id: int) -> BlacklistEntry:
    entry = session.get(BlacklistEntry, entry_id)
    if entry is None:
        raise DomainError("blacklist_entry_not_found")
    return entry


def hits(
    session: Session, *, values: dict[str, str], ip: str = "", at: datetime
) -> list[BlacklistEntry]:
    """The live entries matching any of `values` (kind -> clear value) or the IP."""
    live = or_(BlacklistEntry.expires_at.is_(None), BlacklistEntry.expires_at > at)
    hashes = [lookup_hash(v) for v in values.values() if v]
    found = list(
        session.scalars(select(BlacklistEntry).where(live, BlacklistEntry.value_hash.in_(hashes)))
    )
    if ip:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            address = None
        if address is not None:
            ranges = session.scalars(
                select(BlacklistEntry).where(live, BlacklistEntry.kind == "ip_range")
            )
            found += [e for e in ranges if e.cidr and address in ipaddress.ip_network(e.cidr)]
    return found


def open_case(
    session: Session,
    *,
    kind: str,
    customer_id: int | None,
    priority: int,
    note: str,
    at: datetime,
    reference: str | None = None,
    subject: str | None = None,
    body: str | None = None,
    transfer_id: str | None = None,
) -> RiskCase:
    """A new open case. Other domains open theirs here too (the fraud domain's
    `fraud_hold`, with its hold's reference)."""
    if kind not in CASE_KINDS:
        raise ValueError(f"unknown case kind {kind!r}")
    case = RiskCase(
        public_id=new_public_id(),
        kind=kind,
        customer_id=customer_id,
        priority=priority,
        status="open",
        notes=note,
        opened_at=at,
        reference=reference,
        subject=subject,
        body=body,
        transfer_id=transfer_id,
    )
    session.add(case)
    session.flush()
    return case


def screen_registration(
    session: Session,
    *,
    customer_id: int,
    id_number: str,
    mobile: str,
    card_number: str,
    at: datetime,
    client: Client | None,
    refusal: str,
) -> None:
    """Refuse a listed applicant with `refusal` (the flow's own neutral code) and open a
    case; the case and its audit record commit with the refusal."""
    client = client or Client()
    values = {
        "person": id_number,
        "mobile": mobile,
        "card": card_number,
        "device": client.device_id,
    }
    _screen(session, customer_id=customer_id, values=values, client=client, at=at, refusal=refusal)


def screen_device_binding(
    session: Session,
    *,
    customer_id: int,
    device_name: str,
    client: Client,
    at: datetime,
    refusal: str,
) -> None:
    """Refuse to bind a listed device, or one from a listed IP range, and open a case."""
    values = {"device": device_name}
    _screen(session, customer_id=customer_id, values=values, client=client, at=at, refusal=refusal)


def _screen(
    session: Session,
    *,
    customer_id: int,
    values: dict[str, str],
    client: Client,
    at: datetime,
    refusal: str,
) -> None:
    found = hits(session, values=values, ip=client.ip, at=at)
    if not found:
        return
    case = open_case(
        session,
        kind="blacklist_hit",
        customer_id=customer_id,
        priority=PRIORITY_BLACKLIST_HIT,
        note="entries " + ", ".join(str(e.id) for e in found),
        at=at,
    )
    audit.append(
        session,
        event="blacklist_hit",
        outcome="failure",
        actor="risk",
        at=at,
        client=client,
        customer_id=customer_id,
        details={"case": case.id, "entries": [e.id for e in found]},
    )
    error = DomainError(refusal)
    error.keep = True
    raise error


def list_cases(session: Session) -> list[RiskCase]:
    """Open and assigned cases, most urgent first, then oldest first."""
    return list(
        session.scalars(
            select(RiskCase)
            .where(RiskCase.status != "closed")
            .order_by(RiskCase.priority, RiskCase.opened_at, RiskCase.id)
        )
    )


def age_hours(case: RiskCase, *, at: datetime) -> float:
    return round((at - as_utc(case.opened_at)).total_seconds() / 3600, 1)


def sla_breached(case: RiskCase, age: float) -> bool:
    return case.status != "closed" and age > SLA_HOURS.get(case.priority, 72)


def timeline(
    session: Session, *, case_id: int, limit: int = 500, newest_first: bool = False
) -> list[AuditRecord]:
    """The customer's operations from the audit chain, oldest first (or the newest
    `limit`, newest first) (4.4-c2): time, IP, device, event, outcome."""
    case = session.get(RiskCase, case_id)
    if case is None:
        raise DomainError("case_not_found")
    if case.customer_id is None:
        return []
    return list(
        session.scalars(
            select(AuditRecord)
            .where(AuditRecord.customer_id == case.customer_id)
            .order_by(
                *(
                    (AuditRecord.at.desc(), AuditRecord.id.desc())
                    if newest_first
                    else (AuditRecord.at, AuditRecord.id)
                )
            )
            .limit(limit)
        )
    )


def _locked(session: Session, case_id: int) -> RiskCase:
    case = session.scalars(
        select(RiskCase)
        .where(RiskCase.id == case_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if case is None:
        raise DomainError("case_not_found")
    return case


def _audit_case(
    session: Session, case: RiskCase, *, event: str, staff_id: str, at: datetime
) -> None:
    audit.append(
        session,
        event=event,
        outcome="success",
        actor=staff_id,
        at=at,
        customer_id=case.customer_id,
        details={"case": case.id},
    )


def assign_case(session: Session, *, case_id: int, staff_id: str, at: datetime) -> RiskCase:
    """Take an open case. The row lock makes two officers' takes serial: one wins, the
    other sees it assigned and is refused."""
    case = _locked(session, case_id)
    if case.status != "open":
        raise DomainError("case_taken")
    case.status = "assigned"
    case.assignee = staff_id
    _audit_case(session, case, event="case_assigned", staff_id=staff_id, at=at)
    return case


def get_case(session: Session, *, case_id: int) -> RiskCase:
    case = session.get(RiskCase, case_id)
    if case is None:
        raise DomainError("case_not_found")
    return case


def worked_case(session: Session, *, case_id: int, staff_id: str) -> RiskCase:
    """The case under its row lock, for its assignee only: another officer acting on it
    at the same time waits for the lock, then is refused (`case_not_yours`)."""
    case = _locked(session, case_id)
    if case.status == "closed":
        raise DomainError("case_closed")
    if case.status != "assigned" or case.assignee != staff_id:
        raise DomainError("case_not_yours")
    return case


def append_note(case: RiskCase, *, staff_id: str, note: str, at: datetime) -> None:
    case.notes = (
        case.notes + "\n" if case.notes else ""
    ) + f"{at.isoformat()} {staff_id}: {note.strip()}"


def add_note(session: Session, *, case_id: int, staff_id: str, note: str, at: datetime) -> None:
    """Any risk officer may note an open case (a colleague's too); a closed one is final."""
    case = _locked(session, case_id)
    if case.status == "closed":
        raise DomainError("case_closed")
    if not note.strip():
        raise DomainError("validation_error")
    append_note(case, staff_id=staff_id, note=note, at=at)


def close_case(
    session: Session,
    *,
    case_id: int,
    staff_id: str,
    outcome: str,
    at: datetime,
    comment: str = "",
) -> RiskCase:
    """The assignee closes with an outcome from `OUTCOMES` (and a comment in the notes)."""
    if outcome not in OUTCOMES:
        raise DomainError("validation_error")
    case = worked_case(session, case_id=case_id, staff_id=staff_id)
    case.status = "closed"
    case.outcome = outcome
    case.closed_at = at
    if comment.strip():
        append_note(case, staff_id=staff_id, note=comment, at=at)
    _audit_case(session, case, event="case_closed", staff_id=staff_id, at=at)
    return case


def seed_demo(session: Session, *, now: datetime) -> None:
    """The demo's blacklist and open cases (`make demo`; docs/risk.md): a blacklist hit, a
    high-risk sign-up and a complaint of the first demo customer with online banking.
    Nothing is added twice."""
    if session.scalars(select(RiskCase.id).where(RiskCase.kind == "complaint")).first():
        return
    if not session.scalars(select(BlacklistEntry.id).limit(1)).first():
        for kind, value, reason in (
            ("mobile", "13700000666", "demo: mule account ring"),
            ("device", "demo-stolen-phone", "demo: reported stolen"),
            ("ip_range", "203.0.113.0/24", "demo: credential-stuffing source"),
        ):
            add_entry(session, kind=kind, value=value, reason=reason, staff_id="seed", at=now)
        open_case(
            session,
            kind="blacklist_hit",
            customer_id=None,
            priority=PRIORITY_BLACKLIST_HIT,
            note="demo: sign-up from a listed IP range",
            at=now - timedelta(hours=6),
        )
        open_case(
            session,
            kind="high_risk_signup",
            customer_id=None,
            priority=PRIORITY_HIGH_RISK,
            note="demo: age, region",
            at=now - timedelta(hours=1),
        )
    customer_id = session.scalars(select(User.customer_id).order_by(User.id).limit(1)).first()
    case = open_case(
        session,
        kind="complaint",
        customer_id=customer_id,
        priority=PRIORITY_COMPLAINT,
        note="",
        at=now - timedelta(hours=30),
        subject="短信通知未收到",
        body="上周的两笔入账都没有收到短信通知，请帮忙查一下。",
    )
    session.add(
        CaseMessage(case_id=case.id, sender="customer", text=case.body or "", at=case.opened_at)
    )
