"""The decision engine: `assess` runs the active rule set over a features object; the
transfer and login paths call it inside their own transaction, before anything is posted.

The transfer path (payments.confirm) adds ONE statement to its pipelined locking round
trip (`transfer_read`): both accounts' counters, whether the payee is blacklisted, the
active rule-set version, the customer's model version and their newest device binding. It
writes the counters back with the commit (`record_transfer`: one upsert, batched with the
path's other writes). Rule sets and models are cached per process, keyed by version.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import iptocc
from sqlalchemy import Select, bindparam, func, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from wangyin.clock import as_utc, bank_date
from wangyin.db import defer_write, is_sqlite, table_of
from wangyin.fraud import errors as _errors  # noqa: F401 - registers the error codes
from wangyin.fraud import model as anomaly
from wangyin.fraud.models import FraudCounters, FraudEvent, FraudIpCounter, FraudModel, FraudRuleSet
from wangyin.fraud.rules import ALLOW as ALLOW
from wangyin.fraud.rules import BLOCK as BLOCK
from wangyin.fraud.rules import DEFAULTS, RULES, SEVERITY, Features, near_threshold
from wangyin.fraud.rules import HOLD as HOLD
from wangyin.fraud.rules import STEP_UP as STEP_UP
from wangyin.identity.models import Device, UserSession
from wangyin.risk.models import BlacklistEntry
from wangyin.security.fields import lookup_hash

_COUNTERS = table_of(FraudCounters)
_RULE_SETS = table_of(FraudRuleSet)
_MODELS = table_of(FraudModel)
_DEVICES = table_of(Device)
_BLACKLIST = table_of(BlacklistEntry)
_EVENTS = table_of(FraudEvent)
_IPS = table_of(FraudIpCounter)
_SESSIONS = table_of(UserSession)

PAYEES_KEPT = 50  # the most recent payees remembered per account
PAYERS_KEPT = 50
IP_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Decision:
    action: str  # allow | step_up | hold | block
    hits: tuple[str, ...] = ()
    points: int = 0
    score: int | None = None
    version: int = 0


# --- rule sets: version -> parameters, cached per process -----------------------------

_RULESETS: dict[int, dict[str, dict[str, Any]]] = {0: DEFAULTS}


def merged(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A stored rule set over the defaults (a rule added later keeps its default)."""
    return {name: {**DEFAULTS[name], **params.get(name, {})} for name in DEFAULTS}


def rules_of(session: Session, version: int | None) -> dict[str, dict[str, Any]]:
    """The parameters of `version` (None or 0: the defaults); read once per process."""
    version = version or 0
    found = _RULESETS.get(version)
    if found is None:
        text = session.execute(
            select(_RULE_SETS.c.params).where(_RULE_SETS.c.version == version)
        ).scalar_one()
        found = _RULESETS[version] = merged(json.loads(text))
    return found


def forget(version: int) -> None:
    """A version (re)created here: drop what this process cached under its number."""
    _RULESETS.pop(version, None)


def assess(features: Features, params: dict[str, dict[str, Any]], *, version: int = 0) -> Decision:
    """Every enabled rule over the features; the points add up against the thresholds, and
    a rule with an `action` forces at least that decision when it fires."""
    hits = []
    points = 0
    forced = ALLOW
    for name, rule in RULES.items():
        p = params[name]
        if not p.get("enabled", True):
            continue
        added = rule(features, p)
        if added is None:
            continue
        hits.append(name)
        points += added
        action = p.get("action")
        if action and SEVERITY[action] > SEVERITY[forced]:
            forced = action
    limits = params["decision"]
    by_points = ALLOW
    for action in (STEP_UP, HOLD, BLOCK):
        if points >= limits[action]:
            by_points = action
    action = forced if SEVERITY[forced] >= SEVERITY[by_points] else by_points
    return Decision(action, tuple(hits), points, features.score, version)


# --- the transfer path ------------------------------------------------------------------

_LIVE = or_(_BLACKLIST.c.expires_at.is_(None), _BLACKLIST.c.expires_at > bindparam("now"))


@cache
def _transfer_query() -> Select[Any]:
    anchor = select(literal(1).label("one")).subquery("anchor")
    listed = (
        select(func.count())
        .select_from(_BLACKLIST)
        .where(_LIVE, _BLACKLIST.c.value_hash.in_([bindparam("h_number"), bindparam("h_mobile")]))
        .scalar_subquery()
    )
    rules_version = select(func.max(_RULE_SETS.c.version)).where(_RULE_SETS.c.active)
    model_version = select(func.max(_MODELS.c.version)).where(
        _MODELS.c.customer_id == bindparam("customer_id")
    )
    bound = select(func.max(_DEVICES.c.bound_at)).where(
        _DEVICES.c.user_id == bindparam("user_id"), _DEVICES.c.removed_at.is_(None)
    )
    return select(
        _COUNTERS,
        listed.label("listed"),
        rules_version.scalar_subquery().label("rules_version"),
        model_version.scalar_subquery().label("model_version"),
        bound.scalar_subquery().label("device_bound_at"),
    ).select_from(
        anchor.outerjoin(
            _COUNTERS,
            _COUNTERS.c.account_id.in_([bindparam("from_account"), bindparam("to_account")]),
        )
    )


def transfer_read(
    *,
    customer_id: int,
    user_id: int,
    from_account_id: int,
    to_account_id: int | None,
    to_number: str,
    payee_mobile: str,
    at: datetime,
) -> tuple[Any, dict[str, Any]]:
    """The one statement the transfer path reads for the engine, after its ledger locks
    (the counters are written under those locks only, so they are current here)."""
    return _transfer_query(), {
        "from_account": from_account_id,
        "to_account": to_account_id if to_account_id is not None else 0,  # 0: no such row
        "customer_id": customer_id,
        "user_id": user_id,
        "h_number": lookup_hash(to_number),
        "h_mobile": lookup_hash(payee_mobile or "-"),
        "now": at,
    }


@dataclass(frozen=True)
class TransferCheck:
    decision: Decision
    features: Features
    from_row: Any
    to_row: Any


def _ids(text: str) -> list[str]:
    return [part for part in text.split(",") if part] if text else []


def transfer_features(
    rows: list[Any],
    *,
    from_account_id: int,
    to_account_id: int | None,
    amount_cny: int,
    to_own: bool,
    at: datetime,
    payee_key: str | None = None,
) -> tuple[Features, Any, Any, Any]:
    """Features from `transfer_read`'s rows: (features, from row, to row, first row).
    `to_account_id` None: a payee at another bank, known by `payee_key` (no counters of
    its own here: the mule pattern is for our accounts)."""
    first = rows[0]
    by_id = {r.account_id: r for r in rows if r.account_id is not None}
    mine = by_id.get(from_account_id)
    theirs = by_id.get(to_account_id) if to_account_id is not None else None
    payee = payee_key or str(to_account_id)
    today = bank_date(at).isoformat()
    hour_start = as_utc(at).replace(minute=0, second=0, microsecond=0)
    out_hour = out_day = out_sum = near = 0
    inflow, inflow_at = 0, None
    payees: list[str] = []
    if mine is not None:
        if mine.out_hour_start is not None and as_utc(mine.out_hour_start) == hour_start:
            out_hour = mine.out_hour_count
        if mine.out_day == today:
            out_day, out_sum, near = mine.out_day_count, mine.out_day_sum, mine.out_day_near
        inflow, inflow_at = mine.last_inflow_minor, mine.last_inflow_at
        payees = _ids(mine.payees)
    payers = set(_ids(theirs.in_payers)) if theirs is not None and theirs.in_day == today else set()
    payers.add(str(from_account_id))
    features = Features(
        kind="transfer",
        at=at,
        amount_cny=amount_cny,
        to_own=to_own,
        new_payee=payee not in payees,
        device_bound_at=first.device_bound_at,
        out_hour_count=out_hour,
        out_day_count=out_day,
        out_day_sum=out_sum,
        out_day_near=near,
        payee_day_payers=len(payers),
        last_inflow_minor=inflow,
        last_inflow_at=inflow_at,
        counterparty_listed=bool(first.listed),
    )
    return features, mine, theirs, first


def _score(session: Session, *, customer_id: int, version: int | None, f: Features) -> int | None:
    if version is None:
        return None
    forest = anomaly.cached(customer_id, version)
    if forest is None:
        text = session.execute(
            select(_MODELS.c.trees).where(
                _MODELS.c.customer_id == customer_id, _MODELS.c.version == version
            )
        ).scalar_one()
        forest = anomaly.load(text)
        anomaly.remember(customer_id, version, forest)
    return forest.score(
        anomaly.features_of(amount_cny=f.amount_cny, at=f.at, new_payee=f.new_payee)
    )


def assess_transfer(
    session: Session,
    *,
    rows: list[Any],
    customer_id: int,
    from_account_id: int,
    to_account_id: int | None,
    amount_cny: int,
    to_own: bool,
    at: datetime,
    enforce: bool = True,
    payee_key: str | None = None,
) -> TransferCheck:
    """The engine's decision on a transfer (`enforce` False: an instruction the customer
    already confirmed, or a released hold: counted, never stopped)."""
    features, mine, theirs, first = transfer_features(
        rows,
        from_account_id=from_account_id,
        to_account_id=to_account_id,
        amount_cny=amount_cny,
        to_own=to_own,
        at=at,
        payee_key=payee_key,
    )
    if not enforce:
        return TransferCheck(Decision(ALLOW), features, mine, theirs)
    version = first.rules_version or 0
    params = rules_of(session, version)
    if params["anomaly"].get("enabled", True):
        features = replace(
            features,
            score=_score(session, customer_id=customer_id, version=first.model_version, f=features),
        )
    return TransferCheck(assess(features, params, version=version), features, mine, theirs)


_COUNTER_COLUMNS = [c.name for c in _COUNTERS.columns if c.name != "account_id"]


@cache
def _upsert(dialect: str) -> Any:
    insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
    statement = insert(_COUNTERS)
    return statement.on_conflict_do_update(
        index_elements=[_COUNTERS.c.account_id],
        set_={name: statement.excluded[name] for name in _COUNTER_COLUMNS},
    )


def _keep_last(items: list[str], item: str, limit: int) -> str:
    kept = [i for i in items if i != item] + [item]
    return ",".join(kept[-limit:])


def _counter_values(row: Any) -> dict[str, Any]:
    if row is None:
        return {
            "out_hour_start": None,
            "out_hour_count": 0,
            "out_day": "",
            "out_day_count": 0,
            "out_day_sum": 0,
            "out_day_near": 0,
            "in_day": "",
            "in_payers": "",
            "last_inflow_minor": 0,
            "last_inflow_at": None,
            "payees": "",
        }
    return {name: getattr(row, name) for name in _COUNTER_COLUMNS if name != "updated_at"}


def record_transfer(
    session: Session,
    check: TransferCheck,
    *,
    from_account_id: int,
    to_account_id: int | None,
    amount_cny: int,
    at: datetime,
    payee_key: str | None = None,
) -> None:
    """The posted transfer counted on both accounts (on the payer's only for a payee at
    another bank, `to_account_id` None, known by `payee_key`), written with the commit."""
    f = check.features
    today = bank_date(at).isoformat()
    structuring = rules_of(session, check.decision.version)["structuring"]
    payer = _counter_values(check.from_row)
    payer.update(
        account_id=from_account_id,
        out_hour_start=as_utc(at).replace(minute=0, second=0, microsecond=0),
        out_hour_count=f.out_hour_count + 1,
        out_day=today,
        out_day_count=f.out_day_count + 1,
        out_day_sum=f.out_day_sum + amount_cny,
        out_day_near=f.out_day_near + (1 if near_threshold(amount_cny, structuring) else 0),
        payees=_keep_last(_ids(payer["payees"]), payee_key or str(to_account_id), PAYEES_KEPT),
        updated_at=at,
    )
    statement = _upsert("sqlite" if is_sqlite(session) else "postgresql")
    if to_account_id is None:
        defer_write(session, statement, payer)
        return
    payee = _counter_values(check.to_row)
    payers = _ids(payee["in_payers"]) if payee["in_day"] == today else []
    payee.update(
        account_id=to_account_id,
        in_day=today,
        in_payers=_keep_last(payers, str(from_account_id), PAYERS_KEPT),
        updated_at=at,
    )
    cash_out = rules_of(session, check.decision.version)["cash_out"]
    if amount_cny >= cash_out["inflow"]:
        payee.update(last_inflow_minor=amount_cny, last_inflow_at=at)
    # Ascending account id, the ledger's lock order.
    for values in sorted((payer, payee), key=lambda v: v["account_id"]):
        defer_write(session, statement, values)


_INSERT_EVENT = _EVENTS.insert()


def record_event(
    session: Session, *, kind: str, customer_id: int | None, decision: Decision, at: datetime
) -> None:
    """Keep a decision that hit a rule or carried a score, for the statistics page."""
    if not decision.hits and decision.score is None:
        return
    defer_write(
        session,
        _INSERT_EVENT,
        {
            "kind": kind,
            "customer_id": customer_id,
            "decision": decision.action,
            "hits": ",".join(decision.hits)[:300],
            "score": decision.score,
            "rules_version": decision.version,
            "at": at,
        },
    )


# --- the login path ---------------------------------------------------------------------


def countable_ip(ip: str) -> bool:
    """Only public addresses are counted per IP: a private or loopback one is a proxy's
    or the bank's own network, and would merge every customer behind it."""
    try:
        return ipaddress.ip_address(ip).is_global
    except ValueError:
        return False


@cache
def _login_query() -> Select[Any]:
    anchor = select(literal(1).label("one")).subquery("anchor")
    rules_version = select(func.max(_RULE_SETS.c.version)).where(_RULE_SETS.c.active)
    # The IP of the customer's previous login (its latest session before this one).
    last_ip = (
        select(_SESSIONS.c.ip)
        .where(
            _SESSIONS.c.user_id == bindparam("user_id"), _SESSIONS.c.created_at < bindparam("now")
        )
        .order_by(_SESSIONS.c.created_at.desc())
        .limit(1)
    )
    return select(
        _IPS.c.ip_hash,
        _IPS.c.window_start,
        _IPS.c.attempts,
        _IPS.c.users,
        rules_version.scalar_subquery().label("rules_version"),
        last_ip.scalar_subquery().label("last_ip"),
    ).select_from(anchor.outerjoin(_IPS, _IPS.c.ip_hash == bindparam("ip_hash")))


def country_of(ip: str) -> str:
    """The ISO country an IP address was allocated to (iptocc's offline copy of the
    registries' data: no look-up leaves the bank); "" for private, loopback or unknown."""
    if not ip:
        return ""
    try:
        return str(iptocc.country_code(ip) or "")
    except ValueError:
        return ""


@cache
def _ip_upsert(dialect: str) -> Any:
    insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
    statement = insert(_IPS)
    return statement.on_conflict_do_update(
        index_elements=[_IPS.c.ip_hash],
        set_={n: statement.excluded[n] for n in ("window_start", "attempts", "users")},
    )


def assess_login(
    session: Session,
    *,
    user_id: int,
    customer_id: int,
    user_created_at: datetime | None,
    ip: str,
    new_device: bool,
    at: datetime,
) -> Decision:
    """A password login that passed: counted per IP (one read, one write with the
    commit), then the login rules: new device, odd hour, credential stuffing, fake
    registrations."""
    counted = countable_ip(ip)
    ip_hash = lookup_hash(f"ip:{ip}") if counted else ""
    row = session.execute(_login_query(), {"ip_hash": ip_hash, "user_id": user_id, "now": at}).one()
    attempts, users = 0, []
    if row.ip_hash is not None and as_utc(row.window_start) + IP_WINDOW > at:
        attempts, users = row.attempts, _ids(row.users)
        start = as_utc(row.window_start)
    else:
        start = at
    users_text = _keep_last(users, str(user_id), PAYERS_KEPT)
    if counted:
        defer_write(
            session,
            _ip_upsert("sqlite" if is_sqlite(session) else "postgresql"),
            {
                "ip_hash": ip_hash,
                "window_start": start,
                "attempts": attempts + 1,
                "users": users_text,
            },
        )
    features = Features(
        kind="login",
        at=at,
        device_bound_at=at if new_device else None,
        ip_attempts=attempts + 1 if counted else 0,
        ip_users=len(_ids(users_text)) if counted else 0,
        user_created_at=user_created_at,
        country=country_of(ip),
        last_country=country_of(row.last_ip or ""),
    )
    version = row.rules_version or 0
    decision = assess(features, rules_of(session, version), version=version)
    record_event(session, kind="login", customer_id=customer_id, decision=decision, at=at)
    return decision
