"""The AML risk level at sign-up (issue 7 §3), on both databases: computed from the
documented factors and stored with them; a high one holds the login ("under_review")
until a supervisor approves (opens it) or rejects (closes it), both audited."""

from __future__ import annotations

import json
from itertools import count

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import card_of, make_account, make_customer
from factories.transfers import latest_code
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.identity import service as identity
from wangyin.identity.models import User
from wangyin.identity.validators import id_check_digit
from wangyin.risk import aml
from wangyin.risk import service as risk
from wangyin.risk.models import RiskAssessment, RiskCase
from wangyin.security.audit import Client
from wangyin.security.models import AuditRecord
from wangyin.uow import run_read, run_write

PASSWORD = "Xin-Mima-2026"
_serial = count(100)


def _id(region: str, birth: str) -> str:
    first17 = f"{region}0102{birth}{next(_serial):03d}"
    return first17 + id_check_digit(first17)


def _register(
    db: Database, clock: FrozenClock, settings: Settings, id_number: str, **declared: str
) -> User:
    def build(s: Session) -> dict[str, str]:
        c = make_customer(s, at=clock.now(), id_number=id_number)
        acct = make_account(s, c, at=clock.now(), with_card=True)
        return {
            "name": c.name, "id_number": c.id_number, "mobile": c.mobile,
            "card_number": card_of(s, acct).number, "username": f"u{next(_serial)}",
            "password": PASSWORD, "transaction_password": "582936",
        }  # fmt: skip

    form = run_write(db, build)
    started = run_write(
        db,
        lambda s: identity.start_registration(
            s, **form, **declared, at=clock.now(), settings=settings
        ),
    )
    code = run_read(db, lambda s: latest_code(s, form["mobile"]))
    return run_write(
        db,
        lambda s: identity.finish_registration(
            s, registration_id=started.public_id, code=code, at=clock.now(), settings=settings
        ),
    )


def _login(db: Database, clock: FrozenClock, settings: Settings, user: User) -> str:
    try:
        run_write(
            db,
            lambda s: identity.login(
                s,
                login=user.username,
                password=PASSWORD,
                client=Client(device_id="d1"),
                at=clock.now(),
                settings=settings,
            ),
        )
    except DomainError as refusal:
        return refusal.code
    return "ok"


def _assessment(db: Database, user: User) -> RiskAssessment:
    return run_read(
        db,
        lambda s: s.scalars(select(RiskAssessment).where(RiskAssessment.user_id == user.id)).one(),
    )


@pytest.mark.parametrize(
    ("region", "birth", "level", "factors"),
    [
        ("11", "19880808", "low", {}),
        ("53", "19880808", "medium", {"region": 1}),
        ("11", "20100101", "medium", {"age": 1}),
        ("53", "20100101", "high", {"age": 1, "region": 1}),
    ],
)
def test_the_level_and_its_factors_are_stored(
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    region: str,
    birth: str,
    level: str,
    factors: dict[str, int],
) -> None:
    user = _register(db, clock, settings, _id(region, birth))
    assessment = _assessment(db, user)
    assert (assessment.level, json.loads(assessment.factors)) == (level, factors)
    assert _login(db, clock, settings, user) == ("under_review" if level == "high" else "ok")


def test_a_formerly_listed_mobile_makes_a_sign_up_high_risk(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    id_number = _id("11", "19880808")
    run_write(
        db,
        lambda s: risk.add_entry(
            s,
            kind="person",
            value=id_number,
            reason="old case",
            staff_id="o",
            at=clock.now(),
            expires_at=clock.now(),
        ),
    )
    user = _register(db, clock, settings, id_number)
    assert json.loads(_assessment(db, user).factors) == {"blacklist_proximity": 2}
    assert _assessment(db, user).level == "high"


@pytest.mark.parametrize(
    ("approve", "status", "login"), [(True, "active", "ok"), (False, "closed", "customer_inactive")]
)
def test_a_supervisor_opens_or_closes_a_high_risk_sign_up(
    db: Database, clock: FrozenClock, settings: Settings, approve: bool, status: str, login: str
) -> None:
    user = _register(db, clock, settings, _id("53", "20100101"))
    assert _login(db, clock, settings, user) == "under_review"
    case = run_read(db, lambda s: s.scalars(select(RiskCase)).one())
    assert (case.kind, case.priority, case.customer_id) == ("high_risk_signup", 2, user.customer_id)
    queue = run_read(db, lambda s: [a.id for a in aml.pending(s)])
    assert queue == [_assessment(db, user).id]
    run_write(
        db,
        lambda s: aml.decide(
            s,
            assessment_id=queue[0],
            approve=approve,
            reason="documents checked",
            staff_id="sup",
            at=clock.now(),
        ),
    )
    assert run_read(db, lambda s: s.get_one(User, user.id).status) == status
    assert _login(db, clock, settings, user) == login
    assert run_read(db, aml.pending) == []
    with pytest.raises(DomainError) as info:  # decided once
        run_write(
            db,
            lambda s: aml.decide(
                s,
                assessment_id=queue[0],
                approve=True,
                reason="again",
                staff_id="sup",
                at=clock.now(),
            ),
        )
    assert info.value.code == "review_not_pending"
    event = "aml_review_approved" if approve else "aml_review_rejected"
    assert (
        run_read(db, lambda s: s.scalar(select(func.count()).where(AuditRecord.event == event)))
        == 1
    )


@pytest.mark.parametrize(
    ("occupation", "product_use", "level", "factors"),
    [
        ("employee", "salary", "low", {}),
        ("self_employed", "everyday", "medium", {"occupation": 1}),
        ("business_owner", "cross_border", "high", {"occupation": 1, "product_use": 1}),
        ("cash_business", "savings", "high", {"occupation": 2}),
    ],
)
def test_the_declared_occupation_and_use_count(
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    occupation: str,
    product_use: str,
    level: str,
    factors: dict[str, int],
) -> None:
    user = _register(
        db, clock, settings, _id("11", "19880808"), occupation=occupation, product_use=product_use
    )
    assessment = _assessment(db, user)
    assert (assessment.level, json.loads(assessment.factors)) == (level, factors)


def test_an_unknown_occupation_is_refused(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    with pytest.raises(DomainError) as refusal:
        _register(db, clock, settings, _id("11", "19880808"), occupation="pirate")
    assert refusal.value.code == "validation_error"
