"""Each anti-fraud rule alone (issue 7 §4): it fires on its pattern and stays quiet just
outside it; the engine adds the points and forces a rule's action. Removing a rule's code
(or its entry in RULES) fails its test here."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from wangyin.fraud import engine, rules
from wangyin.fraud.rules import DEFAULTS, Features

# 10:00 Beijing time on a Tuesday.
DAY = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)
NIGHT = datetime(2026, 12, 7, 19, 0, tzinfo=UTC)  # 03:00 Beijing


def transfer(**changes: object) -> Features:
    base = Features(kind="transfer", at=DAY, amount_cny=100_00, new_payee=False)
    return replace(base, **changes)  # type: ignore[arg-type]


def login(**changes: object) -> Features:
    return replace(Features(kind="login", at=DAY), **changes)  # type: ignore[arg-type]


def hits(features: Features) -> tuple[str, ...]:
    return engine.assess(features, DEFAULTS).hits


def test_a_plain_transfer_hits_nothing_and_is_allowed() -> None:
    decision = engine.assess(transfer(), DEFAULTS)
    assert decision.action == rules.ALLOW
    assert decision.hits == ()


def test_new_device() -> None:
    assert "new_device" in hits(transfer(device_bound_at=DAY - timedelta(hours=2)))
    assert "new_device" not in hits(transfer(device_bound_at=DAY - timedelta(hours=73)))
    assert "new_device" not in hits(transfer(device_bound_at=None))


def test_odd_hour_is_beijing_time() -> None:
    assert "odd_hour" in hits(transfer(at=NIGHT))
    assert "odd_hour" not in hits(transfer(at=DAY))
    # 23:00 UTC is 07:00 in Beijing: not odd.
    assert "odd_hour" not in hits(transfer(at=datetime(2026, 12, 7, 23, 0, tzinfo=UTC)))


def test_new_payee_with_a_large_amount() -> None:
    assert "new_payee_large" in hits(transfer(new_payee=True, amount_cny=5_000_00))
    assert "new_payee_large" not in hits(transfer(new_payee=True, amount_cny=4_999_99))
    assert "new_payee_large" not in hits(transfer(new_payee=False, amount_cny=50_000_00))
    assert "new_payee_large" not in hits(
        transfer(new_payee=True, to_own=True, amount_cny=50_000_00)
    )


def test_velocity_count_in_the_hour_and_sum_in_the_day() -> None:
    assert "velocity" in hits(transfer(out_hour_count=5))
    assert "velocity" not in hits(transfer(out_hour_count=4))
    assert "velocity" in hits(transfer(out_day_count=20))
    assert "velocity" in hits(transfer(out_day_sum=199_950_00, amount_cny=100_00))
    assert "velocity" not in hits(transfer(out_day_sum=199_900_00, amount_cny=100_00))


def test_blacklisted_counterparty_blocks() -> None:
    decision = engine.assess(transfer(counterparty_listed=True), DEFAULTS)
    assert "blacklisted_counterparty" in decision.hits
    assert decision.action == rules.BLOCK


def test_many_payers_into_one_account_hold() -> None:
    decision = engine.assess(transfer(payee_day_payers=5), DEFAULTS)
    assert "mule" in decision.hits
    assert decision.action == rules.HOLD
    assert "mule" not in hits(transfer(payee_day_payers=4))


def test_credential_stuffing_blocks_a_login() -> None:
    decision = engine.assess(login(ip_attempts=20, ip_users=5), DEFAULTS)
    assert "credential_stuffing" in decision.hits
    assert decision.action == rules.BLOCK
    assert "credential_stuffing" not in hits(login(ip_attempts=20, ip_users=4))
    assert "credential_stuffing" not in hits(login(ip_attempts=19, ip_users=19))


def test_fake_registration() -> None:
    fresh = DAY - timedelta(hours=3)
    assert "fake_registration" in hits(login(user_created_at=fresh, ip_users=3))
    assert "fake_registration" not in hits(login(user_created_at=fresh, ip_users=2))
    old = DAY - timedelta(days=3)
    assert "fake_registration" not in hits(login(user_created_at=old, ip_users=9))


def test_cash_out_after_a_large_inflow() -> None:
    inflow = {"last_inflow_minor": 60_000_00, "last_inflow_at": DAY - timedelta(hours=2)}
    assert "cash_out" in hits(transfer(amount_cny=48_000_00, **inflow))
    assert "cash_out" not in hits(transfer(amount_cny=47_999_00, **inflow))
    late = {"last_inflow_minor": 60_000_00, "last_inflow_at": DAY - timedelta(hours=25)}
    assert "cash_out" not in hits(transfer(amount_cny=60_000_00, **late))


def test_structuring_just_under_the_threshold() -> None:
    decision = engine.assess(transfer(amount_cny=9_500_00, out_day_near=2), DEFAULTS)
    assert "structuring" in decision.hits
    assert decision.action == rules.HOLD
    assert "structuring" not in hits(transfer(amount_cny=9_500_00, out_day_near=1))
    assert "structuring" not in hits(transfer(amount_cny=10_000_00, out_day_near=5))
    assert "structuring" not in hits(transfer(amount_cny=8_999_99, out_day_near=5))


def test_anomaly_score_is_one_more_input_and_skipped_without_a_model() -> None:
    assert "anomaly" in hits(transfer(score=70))
    assert "anomaly" not in hits(transfer(score=69))
    assert "anomaly" not in hits(transfer(score=None))


def test_points_add_up_to_step_up_and_hold() -> None:
    # A large first payment alone: an extra code.
    alone = engine.assess(transfer(new_payee=True, amount_cny=20_000_00), DEFAULTS)
    assert alone.action == rules.STEP_UP
    # Stolen credentials: new device, 03:00 Beijing, a large sum to a new payee: held.
    stolen = transfer(
        at=NIGHT,
        device_bound_at=NIGHT - timedelta(minutes=5),
        new_payee=True,
        amount_cny=20_000_00,
    )
    decision = engine.assess(stolen, DEFAULTS)
    assert decision.action == rules.HOLD
    assert set(decision.hits) == {"new_device", "odd_hour", "new_payee_large"}
    assert decision.points == 90


@pytest.mark.parametrize("name", sorted(rules.RULES))
def test_a_disabled_rule_does_not_fire(name: str) -> None:
    everything = transfer(
        at=NIGHT,
        device_bound_at=NIGHT,
        new_payee=True,
        amount_cny=9_500_00,
        out_hour_count=9,
        payee_day_payers=9,
        counterparty_listed=True,
        out_day_near=9,
        last_inflow_minor=60_000_00,
        last_inflow_at=NIGHT,
        score=99,
    )
    params = engine.merged({name: {"enabled": False}})
    assert name not in engine.assess(everything, params).hits


def test_every_rule_has_defaults_and_a_doc_entry() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "fraud.md").read_text(encoding="utf-8")
    for name in rules.RULES:
        assert name in DEFAULTS
        assert f"`{name}`" in doc


def test_geo_change_signing_in_from_another_country() -> None:
    assert "geo_change" in hits(login(country="US", last_country="CN"))
    assert engine.assess(login(country="US", last_country="CN"), DEFAULTS).action == rules.STEP_UP
    assert "geo_change" not in hits(login(country="CN", last_country="CN"))
    # Unknown on either side (private, loopback, unallocated): no signal.
    assert "geo_change" not in hits(login(country="", last_country="CN"))
    assert "geo_change" not in hits(login(country="US", last_country=""))
