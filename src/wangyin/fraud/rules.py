"""The anti-fraud rules: each a small pure function over a `Features` object and its own
parameters (one entry of a rule set), returning the points it adds, or None when it does
not fire. Thresholds, points and switches live in the versioned rule set (docs/fraud.md
lists each rule with its default); `engine.decide` turns the hits into a decision.

Amounts are CNY minor units; times are UTC and the rules that care about the hour read it
in Beijing time (Asia/Shanghai)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wangyin.clock import BANK_TZ, as_utc

ALLOW = "allow"
STEP_UP = "step_up"
HOLD = "hold"
BLOCK = "block"
SEVERITY = {ALLOW: 0, STEP_UP: 1, HOLD: 2, BLOCK: 3}


@dataclass(frozen=True)
class Features:
    """What the rules look at, read in the payment's (or login's) own transaction."""

    kind: str  # "transfer" | "login"
    at: datetime
    amount_cny: int = 0
    to_own: bool = False
    new_payee: bool = False
    # When the customer's most recently bound device was bound (None: unknown).
    device_bound_at: datetime | None = None
    # The paying account's counters before this transfer (this hour, this bank day).
    out_hour_count: int = 0
    out_day_count: int = 0
    out_day_sum: int = 0
    out_day_near: int = 0
    # Distinct payers into the payee account today, this payer included.
    payee_day_payers: int = 0
    # The paying account's last large inflow.
    last_inflow_minor: int = 0
    last_inflow_at: datetime | None = None
    counterparty_listed: bool = False
    # Logins from this IP in its window, and the distinct users among them.
    ip_attempts: int = 0
    ip_users: int = 0
    user_created_at: datetime | None = None
    # Countries (ISO 3166 codes, from the IP's registry allocation; "" unknown or private)
    # of this request and of the customer's previous login.
    country: str = ""
    last_country: str = ""
    score: int | None = None  # anomaly score 0-100 (None: no model for this customer)


def _hours_since(at: datetime, then: datetime | None) -> float | None:
    if then is None:
        return None
    return (as_utc(at) - as_utc(then)).total_seconds() / 3600


def new_device(f: Features, p: dict[str, Any]) -> int | None:
    """A device was bound to the customer within the last `hours`."""
    age = _hours_since(f.at, f.device_bound_at)
    return p["points"] if age is not None and age < p["hours"] else None


def odd_hour(f: Features, p: dict[str, Any]) -> int | None:
    """Between `start` and `end` o'clock, Beijing time."""
    hour = as_utc(f.at).astimezone(BANK_TZ).hour
    return p["points"] if p["start"] <= hour < p["end"] else None


def new_payee_large(f: Features, p: dict[str, Any]) -> int | None:
    """A first payment to someone else's account of at least `amount`."""
    if f.kind != "transfer" or f.to_own or not f.new_payee:
        return None
    return p["points"] if f.amount_cny >= p["amount"] else None


def velocity(f: Features, p: dict[str, Any]) -> int | None:
    """More than `hour_count` transfers this hour, `day_count` today, or `day_sum` paid
    out today (this transfer included)."""
    if f.kind != "transfer":
        return None
    if (
        f.out_hour_count + 1 > p["hour_count"]
        or f.out_day_count + 1 > p["day_count"]
        or f.out_day_sum + f.amount_cny > p["day_sum"]
    ):
        return int(p["points"])
    return None


def blacklisted_counterparty(f: Features, p: dict[str, Any]) -> int | None:
    """The payee's account number or mobile is on the risk blacklist (risk.service)."""
    return p["points"] if f.kind == "transfer" and f.counterparty_listed else None


def mule(f: Features, p: dict[str, Any]) -> int | None:
    """Many payers into one account: at least `payers` distinct payers today."""
    if f.kind != "transfer" or f.to_own:
        return None
    return p["points"] if f.payee_day_payers >= p["payers"] else None


def credential_stuffing(f: Features, p: dict[str, Any]) -> int | None:
    """Many logins for many users from one IP: `attempts` and `users` in the window."""
    if f.kind != "login":
        return None
    return p["points"] if f.ip_attempts >= p["attempts"] and f.ip_users >= p["users"] else None


def fake_registration(f: Features, p: dict[str, Any]) -> int | None:
    """A user registered within `hours` signs in from an IP that `users` users use."""
    age = _hours_since(f.at, f.user_created_at)
    if f.kind != "login" or age is None or age >= p["hours"]:
        return None
    return p["points"] if f.ip_users >= p["users"] else None


def geo_change(f: Features, p: dict[str, Any]) -> int | None:
    """Signing in from another country than the previous login (both known: private and
    unallocated addresses give no signal)."""
    if f.kind != "login" or not f.country or not f.last_country:
        return None
    return p["points"] if f.country != f.last_country else None


def cash_out(f: Features, p: dict[str, Any]) -> int | None:
    """Paying out at least `share_pct`% of a large inflow (>= `inflow`) received within
    `hours`, to someone else."""
    if f.kind != "transfer" or f.to_own or f.last_inflow_minor < p["inflow"]:
        return None
    age = _hours_since(f.at, f.last_inflow_at)
    if age is None or age >= p["hours"]:
        return None
    return p["points"] if f.amount_cny * 100 >= f.last_inflow_minor * p["share_pct"] else None


def near_threshold(amount_cny: int, p: dict[str, Any]) -> bool:
    """Within `margin_pct`% under `threshold` (not at or over it)."""
    threshold = int(p["threshold"])
    return threshold * (100 - int(p["margin_pct"])) // 100 <= amount_cny < threshold


def structuring(f: Features, p: dict[str, Any]) -> int | None:
    """The `count`-th payment today just under `threshold` (within `margin_pct`%)."""
    if f.kind != "transfer" or not near_threshold(f.amount_cny, p):
        return None
    return p["points"] if f.out_day_near + 1 >= p["count"] else None


def anomaly(f: Features, p: dict[str, Any]) -> int | None:
    """The customer's own model scores this transfer at least `score` (0-100); skipped
    for customers without a model (too little history)."""
    if f.score is None:
        return None
    return p["points"] if f.score >= p["score"] else None


Rule = Callable[[Features, dict[str, Any]], "int | None"]

RULES: dict[str, Rule] = {
    "new_device": new_device,
    "odd_hour": odd_hour,
    "new_payee_large": new_payee_large,
    "velocity": velocity,
    "blacklisted_counterparty": blacklisted_counterparty,
    "mule": mule,
    "credential_stuffing": credential_stuffing,
    "fake_registration": fake_registration,
    "geo_change": geo_change,
    "cash_out": cash_out,
    "structuring": structuring,
    "anomaly": anomaly,
}

# Version 0: the defaults. `action` (optional) forces at least that decision on a hit;
# otherwise the points add up against `decision`'s thresholds.
DEFAULTS: dict[str, dict[str, Any]] = {
    "new_device": {"enabled": True, "hours": 72, "points": 30},
    "odd_hour": {"enabled": True, "start": 0, "end": 6, "points": 20},
    "new_payee_large": {"enabled": True, "amount": 5_000_00, "points": 40},
    "velocity": {
        "enabled": True,
        "hour_count": 5,
        "day_count": 20,
        "day_sum": 200_000_00,
        "points": 40,
    },
    "blacklisted_counterparty": {"enabled": True, "points": 100, "action": BLOCK},
    "mule": {"enabled": True, "payers": 5, "points": 50, "action": HOLD},
    "credential_stuffing": {
        "enabled": True,
        "attempts": 20,
        "users": 5,
        "points": 100,
        "action": BLOCK,
    },
    "fake_registration": {"enabled": True, "hours": 24, "users": 3, "points": 40},
    "geo_change": {"enabled": True, "points": 40},
    "cash_out": {"enabled": True, "inflow": 50_000_00, "hours": 24, "share_pct": 80, "points": 50},
    "structuring": {
        "enabled": True,
        "threshold": 10_000_00,
        "margin_pct": 10,
        "count": 3,
        "points": 50,
        "action": HOLD,
    },
    "anomaly": {"enabled": True, "score": 70, "points": 30},
    # Points from which the decision is at least step-up / hold / block.
    "decision": {"step_up": 40, "hold": 80, "block": 1000},
}
