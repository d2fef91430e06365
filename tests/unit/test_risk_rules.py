"""Risk control's pure rules (issue 7 §3, §5): masks of listed numbers, the AML level's
thresholds and declared points, SLA marks, the link of a fraud hold's case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wangyin.errors import DomainError
from wangyin.risk import aml
from wangyin.risk import service as risk
from wangyin.risk.api import complaint_out, fraud_hold_url
from wangyin.risk.models import Declaration, RiskCase

AT = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def test_listed_numbers_are_kept_as_hash_and_mask_only() -> None:
    kept = risk.blacklist_value("mobile", " 13911112222 ")
    assert kept["masked"] == "139****2222" and "13911112222" not in kept.values()
    assert len(kept["value_hash"]) == 64
    assert risk.blacklist_value("ip_range", "203.0.113.7/24") == {
        "cidr": "203.0.113.0/24",
        "masked": "203.0.113.0/24",
    }
    assert risk.blacklist_value("device", "stolen-phone-9")["masked"] == "stol…"
    for kind, value in (("ip_range", "not an ip"), ("planet", "x"), ("mobile", "  ")):
        with pytest.raises(DomainError):
            risk.blacklist_value(kind, value)


def test_levels_and_declared_points() -> None:
    assert [aml.level_of(p) for p in (0, 1, 2, 5)] == ["low", "medium", "high", "high"]
    declared = Declaration(occupation="cash_business", product_use="cross_border")
    assert aml.OCCUPATION_POINTS[declared.occupation] == 2
    assert aml.PRODUCT_USE_POINTS[declared.product_use] == 1
    assert set(aml.OCCUPATION_POINTS) <= set(aml.OCCUPATIONS)
    assert set(aml.PRODUCT_USE_POINTS) <= set(aml.PRODUCT_USES)


def test_sla_by_priority() -> None:
    case = RiskCase(priority=3, status="open", opened_at=AT - timedelta(hours=73))
    age = risk.age_hours(case, at=AT)
    assert age == 73.0 and risk.sla_breached(case, age)
    case.priority = 2
    assert risk.sla_breached(case, 23.9) is False and risk.sla_breached(case, 24.1)
    case.status = "closed"
    assert risk.sla_breached(case, 100) is False


def test_a_fraud_hold_case_links_to_its_hold_and_no_other() -> None:
    assert fraud_hold_url(RiskCase(kind="fraud_hold", reference="H-9")) == "/admin/fraud/holds/H-9"
    assert fraud_hold_url(RiskCase(kind="complaint", reference="H-9")) is None
    assert fraud_hold_url(RiskCase(kind="fraud_hold", reference=None)) is None


def test_a_complaint_shows_its_outcome_only_once_closed() -> None:
    case = RiskCase(
        public_id="c1", kind="complaint", subject="s", status="assigned", outcome="resolved",
        opened_at=AT,
    )  # fmt: skip
    assert complaint_out(case).status == "in_progress" and complaint_out(case).outcome is None
    case.status = "closed"
    assert complaint_out(case).outcome == "resolved"


def test_unknown_case_kinds_are_refused() -> None:
    with pytest.raises(ValueError):
        risk.open_case(None, kind="gossip", customer_id=None, priority=1, note="", at=AT)  # type: ignore[arg-type]
