"""Held transfers and what risk officers read (issue 7 §4-§5): keyword-only functions,
one unit of work each in the caller's transaction; notifications go to the outbox.

A transfer the engine holds is NOT posted: its request waits HELD, a `fraud_hold` case is
opened in risk control (reference: the transfer id), and the customer is texted that it
is under review. An officer releases it (`actions.release`: posted once through the
normal path) or refuses it (nothing moves)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from wangyin.clock import BANK_TZ, as_utc
from wangyin.db import defer_write, table_of
from wangyin.errors import DomainError
from wangyin.fraud import errors as _errors  # noqa: F401 - registers the error codes
from wangyin.fraud.engine import Decision, forget, record_event
from wangyin.fraud.models import HELD, REFUSED, FraudEvent, FraudHold, FraudRuleSet
from wangyin.fraud.rules import DEFAULTS
from wangyin.i18n import gettext
from wangyin.money import format_grouped
from wangyin.notify import service as notify
from wangyin.payments.models import TransferRequest
from wangyin.risk import service as risk
from wangyin.security import audit
from wangyin.security.audit import Client
from wangyin.security.masking import mask_name

RELEASED = "RELEASED"
CASE_KIND = "fraud_hold"
CASE_PRIORITY = 1  # the customer is waiting for their money

HELD_TEXT = (
    "Your transfer of {amount} {currency} to the account ending {tail} is under review "
    "for your security; we will text you the result. If it was not you, call the bank."
)
RELEASED_TEXT = (
    "Your transfer of {amount} {currency} to the account ending {tail} passed the review "
    "and has been made."
)
REFUSED_TEXT = (
    "Your transfer of {amount} {currency} to the account ending {tail} was not made after "
    "review; no money left your account. Questions: call the bank."
)
BLOCKED_TEXT = (
    "A transfer of {amount} {currency} to the account ending {tail} was stopped for your "
    "security. If it was not you, call the bank at once."
)

_TRANSFERS = table_of(TransferRequest)
_HOLD_TRANSFER = update(_TRANSFERS).where(_TRANSFERS.c.id == bindparam("transfer_row"))


def text_of(template: str, lang: str, *, amount_minor: int, currency: str, tail: str) -> str:
    return gettext(
        template,
        lang,
        amount=format_grouped(amount_minor, currency),
        currency=currency,
        tail=tail,
    )


def _sms(session: Session, *, phone: str, text: str, purpose: str, at: datetime) -> None:
    if phone:
        notify.enqueue_many(
            session,
            [notify.outbox_row(channel="sms", phone=phone, purpose=purpose, at=at, text=text)],
        )


def _told(
    session: Session,
    transfer: Any,
    decision: Decision,
    template: str,
    *,
    phone: str,
    client: Client,
    at: datetime,
) -> None:
    """The payer texted in the language of the request, and the decision recorded."""
    _sms(
        session,
        phone=phone,
        purpose=f"transfer_{decision.action}",
        at=at,
        text=text_of(
            template,
            client.language,
            amount_minor=transfer.amount_minor,
            currency=transfer.currency,
            tail=transfer.to_number[-4:],
        ),
    )
    record_event(
        session, kind="transfer", customer_id=transfer.customer_id, decision=decision, at=at
    )


def hold_transfer(
    session: Session,
    *,
    transfer: Any,
    decision: Decision,
    payer_mobile: str,
    actor: str,
    confirmed_with: str,
    client: Client,
    at: datetime,
) -> None:
    """The engine said hold: the request waits HELD (not posted), a case is opened, the
    customer is texted. Called by payments.confirm after the second factor passed, in its
    transaction; `transfer` is its TransferRow, whose status becomes HELD."""
    defer_write(
        session,
        _HOLD_TRANSFER,
        {"transfer_row": transfer.id, "status": HELD, "confirmed_with": confirmed_with},
    )
    case = risk.open_case(
        session,
        kind=CASE_KIND,
        customer_id=transfer.customer_id,
        priority=CASE_PRIORITY,
        note="rules: " + ", ".join(decision.hits),
        at=at,
        reference=transfer.public_id,
    )
    session.add(
        FraudHold(
            transfer_id=transfer.public_id,
            transfer_row=transfer.id,
            customer_id=transfer.customer_id,
            case_id=case.id,
            status=HELD,
            hits=",".join(decision.hits)[:300],
            points=decision.points,
            score=decision.score,
            rules_version=decision.version,
            created_at=at,
            reason="",
        )
    )
    _told(session, transfer, decision, HELD_TEXT, phone=payer_mobile, client=client, at=at)
    audit.append(
        session,
        event="transfer_held",
        outcome="held",
        actor=actor,
        at=at,
        client=client,
        customer_id=transfer.customer_id,
        details={"transfer": transfer.public_id, "case": case.id, "rules": list(decision.hits)},
    )
    transfer.status = HELD
    transfer.confirmed_with = confirmed_with


def refuse_blocked(
    session: Session,
    *,
    transfer: Any,
    decision: Decision,
    payer_mobile: str,
    client: Client,
    at: datetime,
) -> DomainError:
    """The engine said block: the customer is texted and a case opened (committed with
    the refusal, which the caller raises), the decision recorded. The answer names no
    rule."""
    _told(session, transfer, decision, BLOCKED_TEXT, phone=payer_mobile, client=client, at=at)
    risk.open_case(
        session,
        kind="blacklist_hit" if "blacklisted_counterparty" in decision.hits else CASE_KIND,
        customer_id=transfer.customer_id,
        priority=CASE_PRIORITY,
        note="blocked; rules: " + ", ".join(decision.hits),
        at=at,
        transfer_id=transfer.public_id,
    )
    error = DomainError("operation_refused")
    error.keep = True
    return error


def locked_hold(session: Session, transfer_id: str) -> FraudHold:
    """The hold under its row lock, as it is now: two officers acting at once queue here,
    and the second finds it decided."""
    hold = session.scalars(
        select(FraudHold)
        .where(FraudHold.transfer_id == transfer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if hold is None:
        raise DomainError("hold_not_found")
    if hold.status != HELD:
        raise DomainError("hold_not_pending")
    return hold


def reason_of(text: str) -> str:
    reason = " ".join((text or "").split())
    if len(reason) < 4:
        raise DomainError("reason_required")
    return reason[:300]


def tell_customer(
    session: Session,
    *,
    customer_id: int,
    template: str,
    amount_minor: int,
    currency: str,
    tail: str,
    purpose: str,
    at: datetime,
) -> None:
    """An officer's decision texted to the customer (in Chinese: they made no request)."""
    from wangyin.identity.models import Customer

    _sms(
        session,
        phone=session.get_one(Customer, customer_id).mobile,
        purpose=purpose,
        at=at,
        text=text_of(template, "zh", amount_minor=amount_minor, currency=currency, tail=tail),
    )


def refuse(
    session: Session, *, transfer_id: str, staff_id: str, reason: str, client: Client, at: datetime
) -> FraudHold:
    """The officer refuses: nothing moves, the request ends REFUSED, the customer is told."""
    reason = reason_of(reason)
    hold = locked_hold(session, transfer_id)
    transfer = session.get_one(TransferRequest, hold.transfer_row, with_for_update=True)
    transfer.status = REFUSED
    decided(
        session,
        hold,
        status=REFUSED,
        staff_id=staff_id,
        reason=reason,
        amount_minor=transfer.amount_minor,
        currency=transfer.currency,
        tail=_payee_tail(session, transfer),
        client=client,
        at=at,
    )
    return hold


_DECIDED = {
    REFUSED: (REFUSED_TEXT, "transfer_refused", "hold_refused"),
    RELEASED: (RELEASED_TEXT, "transfer_released", "hold_released"),
}


def decided(
    session: Session,
    hold: FraudHold,
    *,
    status: str,
    staff_id: str,
    reason: str,
    amount_minor: int,
    currency: str,
    tail: str,
    client: Client,
    at: datetime,
) -> None:
    """The officer's decision on the hold row, texted to the customer, audited."""
    template, purpose, event = _DECIDED[status]
    hold.status = status
    hold.decided_by = staff_id
    hold.decided_at = at
    hold.reason = reason
    tell_customer(
        session,
        customer_id=hold.customer_id,
        template=template,
        amount_minor=amount_minor,
        currency=currency,
        tail=tail,
        purpose=purpose,
        at=at,
    )
    audit.append(
        session,
        event=event,
        outcome="success",
        actor=staff_id,
        at=at,
        client=client,
        customer_id=hold.customer_id,
        details={"transfer": hold.transfer_id, "case": hold.case_id, "reason": reason},
    )


def _payee_tail(session: Session, transfer: TransferRequest) -> str:
    from wangyin.accounts.models import Account

    return session.get_one(Account, transfer.to_account_id).account_number[-4:]


# --- what officers read -----------------------------------------------------------------


@dataclass(frozen=True)
class HoldView:
    hold: FraudHold
    transfer: TransferRequest
    payee_tail: str
    local_time: str  # when it was held, Beijing time
    customer_public_id: str
    customer_name: str  # masked


def _view(session: Session, hold: FraudHold) -> HoldView:
    from wangyin.identity.models import Customer

    transfer = session.get_one(TransferRequest, hold.transfer_row)
    customer = session.get_one(Customer, hold.customer_id)
    local = as_utc(hold.created_at).astimezone(BANK_TZ).strftime("%Y-%m-%d %H:%M")
    return HoldView(
        hold,
        transfer,
        _payee_tail(session, transfer),
        local,
        customer.public_id,
        mask_name(customer.name),
    )


def list_holds(session: Session, *, status: str | None = HELD, limit: int = 100) -> list[HoldView]:
    query = select(FraudHold).order_by(FraudHold.created_at).limit(limit)
    if status:
        query = query.where(FraudHold.status == status)
    return [_view(session, h) for h in session.scalars(query)]


def hold_detail(session: Session, *, transfer_id: str) -> HoldView:
    hold = session.scalars(select(FraudHold).where(FraudHold.transfer_id == transfer_id)).first()
    if hold is None:
        raise DomainError("hold_not_found")
    return _view(session, hold)


@dataclass(frozen=True)
class Statistics:
    rule_hits: list[tuple[str, int]]  # rule -> decisions it was part of
    decisions: list[tuple[str, int]]
    scores: list[tuple[str, int]]  # score bucket ("0-9", ...) -> count
    total: int


def statistics(session: Session, *, since: datetime) -> Statistics:
    """Rule hits, decisions and the anomaly-score distribution since `since` (4.4-c3)."""
    hits: dict[str, int] = dict.fromkeys(DEFAULTS.keys() - {"decision"}, 0)
    decisions: dict[str, int] = {}
    buckets = [0] * 10
    total = 0
    rows = session.execute(
        select(FraudEvent.hits, FraudEvent.decision, FraudEvent.score).where(FraudEvent.at >= since)
    )
    for row in rows:
        total += 1
        for name in filter(None, row.hits.split(",")):
            hits[name] = hits.get(name, 0) + 1
        decisions[row.decision] = decisions.get(row.decision, 0) + 1
        if row.score is not None:
            buckets[min(9, max(0, row.score // 10))] += 1
    return Statistics(
        rule_hits=sorted(hits.items(), key=lambda kv: (-kv[1], kv[0])),
        decisions=sorted(decisions.items()),
        scores=[(f"{i * 10}-{i * 10 + 9}", n) for i, n in enumerate(buckets)],
        total=total,
    )


# --- rule sets --------------------------------------------------------------------------


def active_version(session: Session) -> int:
    found = session.scalar(select(func.max(FraudRuleSet.version)).where(FraudRuleSet.active))
    return int(found or 0)


def rule_sets(session: Session) -> list[FraudRuleSet]:
    return list(session.scalars(select(FraudRuleSet).order_by(FraudRuleSet.version.desc())))


def current_params(session: Session) -> dict[str, dict[str, Any]]:
    from wangyin.fraud.engine import rules_of

    return rules_of(session, active_version(session))


def activate(
    session: Session, *, changes: dict[str, dict[str, Any]], approved_by: str, at: datetime
) -> int:
    """A new version (the highest + 1) becomes the active one: the active version's
    parameters with `changes` applied. Every version is kept, complete."""
    from wangyin.fraud.engine import rules_of

    current = rules_of(session, active_version(session))
    params = {rule: {**values, **changes.get(rule, {})} for rule, values in current.items()}
    latest = session.scalar(select(func.max(FraudRuleSet.version))) or 0
    session.execute(update(FraudRuleSet).where(FraudRuleSet.active).values(active=False))
    version = int(latest) + 1
    forget(version)  # versions are immutable; a number cached from another database is not
    session.add(
        FraudRuleSet(
            version=version,
            params=json.dumps(params, sort_keys=True, separators=(",", ":")),
            active=True,
            approved_by=approved_by,
            created_at=at,
        )
    )
    session.flush()
    return version


def seed_demo(session: Session, *, now: datetime) -> None:
    """The demo's held transfer (`make demo`): 张伟 paying 李娜 6,000.00 from a new phone
    at night, held two hours ago, with its `fraud_hold` case. Nothing is added twice."""
    from wangyin.accounts.models import Account
    from wangyin.config import Settings
    from wangyin.fraud.rules import HOLD
    from wangyin.identity.models import Customer, User
    from wangyin.payments import service as payments

    if session.scalars(select(FraudHold.id).limit(1)).first() is not None:
        return
    people = {
        u.username: u
        for u in session.scalars(select(User).where(User.username.in_(("zhangwei", "lina"))))
    }
    if set(people) != {"zhangwei", "lina"}:
        return
    payer, payee = people["zhangwei"], people["lina"]

    def first_account(user: User) -> Account | None:
        return session.scalars(
            select(Account).where(Account.customer_id == user.customer_id).order_by(Account.id)
        ).first()

    source, target = first_account(payer), first_account(payee)
    if source is None or target is None:
        return
    at = now - timedelta(hours=2)
    try:
        transfer = payments.prepare(
            session,
            customer_id=payer.customer_id,
            user_id=payer.id,
            from_account_id=source.public_id,
            to_account_number=target.account_number,
            payee_name=session.get_one(Customer, payee.customer_id).name,
            amount="6000.00",
            currency="CNY",
            remark="",
            at=at,
            settings=Settings(),
            client=Client(ip="203.0.113.7", device_id="demo-new-phone"),
            user_public_id=payer.public_id,
        )
    except DomainError:  # the demo's balances or limits changed: no demo hold
        return
    session.flush()
    transfer.id = session.scalars(
        select(TransferRequest.id).where(TransferRequest.public_id == transfer.public_id)
    ).one()
    hold_transfer(
        session,
        transfer=transfer,
        decision=Decision(HOLD, ("new_device", "odd_hour", "new_payee_large"), 90, None, 0),
        payer_mobile=session.get_one(Customer, payer.customer_id).mobile,
        actor=payer.public_id,
        confirmed_with="pin+otp",
        client=Client(ip="203.0.113.7", device_id="demo-new-phone"),
        at=at,
    )


OUT_OF_REACH = 10**12


def activate_out_of_reach(session: Session, *, approved_by: str, at: datetime) -> int:
    """For throwaway databases only — the failover drill's, the benchmark's, tests about
    locks and books: a rule set whose decisions never trigger. The engine still runs every
    rule and keeps its counters (so its cost is measured), but a handful of customers
    paying each other hundreds of times a minute, at any hour, from devices bound a moment
    ago (velocity, mule, new device, odd hour by design) is not stepped up or held. The
    bank's rule sets change through the back office's maker-checker `fraud_rules` only."""
    return activate(
        session,
        changes={
            "decision": {"step_up": OUT_OF_REACH, "hold": OUT_OF_REACH, "block": OUT_OF_REACH},
            "mule": {"payers": OUT_OF_REACH},
            "structuring": {"count": OUT_OF_REACH},
            "credential_stuffing": {"attempts": OUT_OF_REACH},
        },
        approved_by=approved_by,
        at=at,
    )
