"""The AML risk level at sign-up (issue 7 §3, docs/risk.md): points from documented
factors, stored with them; a high level holds online banking for a supervisor."""

from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from wangyin.clock import BANK_TZ
from wangyin.errors import DomainError
from wangyin.identity.models import Customer, User
from wangyin.notify import service as notify
from wangyin.security import audit
from wangyin.security.audit import Client
from wangyin.security.fields import lookup_hash

from .models import BlacklistEntry, Declaration, RiskAssessment
from .service import PRIORITY_HIGH_RISK, open_case

# Provinces (the ID number's first two digits) the bank's AML assessment rates higher;
# the bank sets these, the demo's are examples (docs/risk.md).
HIGH_RISK_REGIONS = frozenset({"53", "45"})
YOUNG, OLD = 20, 75
MEDIUM_AT, HIGH_AT = 1, 2
# Declared at sign-up (the registration form's choices), with the points each adds.
OCCUPATIONS = (
    "employee",
    "civil_servant",
    "licensed_professional",
    "student",
    "retired",
    "self_employed",
    "business_owner",
    "cash_business",  # dealers in cash, precious metals, gaming: FATF's cash-intensive
    "unemployed",
    "other",
)
OCCUPATION_POINTS = {"self_employed": 1, "business_owner": 1, "unemployed": 1, "cash_business": 2}
PRODUCT_USES = ("everyday", "salary", "savings", "business", "cross_border")
PRODUCT_USE_POINTS = {"business": 1, "cross_border": 1}


def declare(
    session: Session,
    *,
    customer_id: int,
    occupation: str | None,
    product_use: str | None,
    at: datetime,
) -> Declaration | None:
    """Keep what the applicant declared at sign-up step 1, for the level computed when
    the login is created (step 2). Nothing declared (an older client): nothing kept."""
    occupation, product_use = occupation or "", product_use or ""
    if not occupation and not product_use:
        return None
    if (occupation and occupation not in OCCUPATIONS) or (
        product_use and product_use not in PRODUCT_USES
    ):
        raise DomainError("validation_error")
    declaration = Declaration(
        customer_id=customer_id, occupation=occupation, product_use=product_use, declared_at=at
    )
    session.add(declaration)
    return declaration


def declaration_of(session: Session, *, customer_id: int) -> Declaration | None:
    """The customer's latest declaration."""
    return session.scalars(
        select(Declaration)
        .where(Declaration.customer_id == customer_id)
        .order_by(Declaration.declared_at.desc(), Declaration.id.desc())
        .limit(1)
    ).first()


def _age(id_number: str, today: date) -> int | None:
    try:
        born = date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def factors(
    session: Session,
    *,
    id_number: str,
    mobile: str,
    at: datetime,
    declaration: Declaration | None = None,
) -> dict[str, int]:
    """Each factor that applies, with its points (docs/risk.md)."""
    found: dict[str, int] = {}
    if declaration is not None:
        if OCCUPATION_POINTS.get(declaration.occupation):
            found["occupation"] = OCCUPATION_POINTS[declaration.occupation]
        if PRODUCT_USE_POINTS.get(declaration.product_use):
            found["product_use"] = PRODUCT_USE_POINTS[declaration.product_use]
    age = _age(id_number, at.astimezone(BANK_TZ).date())
    if age is not None and (age < YOUNG or age > OLD):
        found["age"] = 1
    if id_number[:2] in HIGH_RISK_REGIONS:
        found["region"] = 1
    # Blacklist proximity: the ID number or mobile was listed once (now expired).
    hashes = [lookup_hash(id_number), lookup_hash(mobile)]
    if session.scalars(
        select(BlacklistEntry.id).where(BlacklistEntry.value_hash.in_(hashes)).limit(1)
    ).first():
        found["blacklist_proximity"] = 2
    return found


def level_of(points: int) -> str:
    return "high" if points >= HIGH_AT else "medium" if points >= MEDIUM_AT else "low"


def assess_registration(
    session: Session, *, user: User, at: datetime, client: Client | None
) -> RiskAssessment:
    """Called by registration in its transaction: a high level puts the new login under
    review (login answers `under_review`) and opens a case."""
    customer = session.get_one(Customer, user.customer_id)
    found = factors(
        session,
        id_number=customer.id_number,
        mobile=customer.mobile,
        at=at,
        declaration=declaration_of(session, customer_id=customer.id),
    )
    level = level_of(sum(found.values()))
    assessment = RiskAssessment(
        customer_id=customer.id,
        user_id=user.id,
        level=level,
        factors=json.dumps(found, sort_keys=True),
        review="pending" if level == "high" else "none",
        assessed_at=at,
    )
    session.add(assessment)
    if level == "high":
        user.status = "under_review"
        open_case(
            session,
            kind="high_risk_signup",
            customer_id=customer.id,
            priority=PRIORITY_HIGH_RISK,
            note="factors " + ", ".join(sorted(found)),
            at=at,
        )
    session.flush()
    audit.append(
        session,
        event="aml_assessed",
        outcome="success",
        actor="risk",
        at=at,
        client=client,
        customer_id=customer.id,
        details={"level": level, "factors": sorted(found)},
    )
    return assessment


def pending(session: Session) -> list[RiskAssessment]:
    return list(
        session.scalars(
            select(RiskAssessment)
            .where(RiskAssessment.review == "pending")
            .order_by(RiskAssessment.assessed_at, RiskAssessment.id)
        )
    )


def decide(
    session: Session, *, assessment_id: int, approve: bool, reason: str, staff_id: str, at: datetime
) -> RiskAssessment:
    """The supervisor's decision: approval opens online banking, rejection closes it."""
    assessment = session.scalars(
        select(RiskAssessment)
        .where(RiskAssessment.id == assessment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if assessment is None or assessment.review != "pending" or not reason.strip():
        raise DomainError("review_not_pending")
    user = session.get_one(User, assessment.user_id, with_for_update=True)
    assessment.review = "approved" if approve else "rejected"
    assessment.decided_by = staff_id
    assessment.decided_at = at
    user.status = "active" if approve else "closed"
    customer = session.get_one(Customer, assessment.customer_id)
    notify.enqueue(
        session,
        channel="sms",
        phone=customer.mobile,
        purpose="aml_review",
        at=at,
        text="您的网上银行已审核通过，现在可以登录。"
        if approve
        else "很抱歉，您的网上银行开通申请未获通过，详情请咨询网点。",
    )
    audit.append(
        session,
        event="aml_review_" + assessment.review,
        outcome="success",
        actor=staff_id,
        at=at,
        customer_id=assessment.customer_id,
        details={"assessment": assessment.id, "reason": reason.strip()[:200]},
    )
    return assessment
