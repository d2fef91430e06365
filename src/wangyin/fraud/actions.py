"""The fraud domain's use cases for staff, shared by the JSON API and the pages: one
transaction each.

Release posts a held transfer through the normal path (`payments.service.confirm`, as
`fraud_release`): the hold's row lock and its HELD status make it happen once however many
officers click, and the ledger entry's key (the transfer's) would refuse a second one."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from wangyin.backoffice import service as backoffice
from wangyin.backoffice.models import Command
from wangyin.backoffice.service import CurrentStaff, actor_of
from wangyin.fraud import commands, service
from wangyin.fraud.models import FraudHold, FraudRuleSet
from wangyin.payments import service as payments
from wangyin.payments.models import PENDING, TransferRequest
from wangyin.runtime import AppState
from wangyin.security.audit import Client
from wangyin.uow import run_read, run_write

RELEASE_WINDOW = timedelta(minutes=5)  # the request's expiry while the release posts it


def release_in(
    session: Session,
    *,
    transfer_id: str,
    staff_id: str,
    reason: str,
    client: Client,
    at: datetime,
    settings: Any,
) -> FraudHold:
    """In the caller's transaction: the hold locked and still HELD, the request back to
    pending for the one confirm that posts it (limits and balance checked again)."""
    reason = service.reason_of(reason)
    hold = service.locked_hold(session, transfer_id)
    session.execute(
        update(TransferRequest)
        .where(TransferRequest.id == hold.transfer_row)
        .values(status=PENDING, expires_at=at + RELEASE_WINDOW)
    )
    transfer = payments.confirm(
        session,
        customer_id=hold.customer_id,
        transfer_id=transfer_id,
        key_digest=None,
        at=at,
        settings=settings,
        client=client,
        authorized_as="fraud_release",
    )
    service.decided(
        session,
        hold,
        status=service.RELEASED,
        staff_id=staff_id,
        reason=reason,
        amount_minor=transfer.amount_minor,
        currency=transfer.currency,
        tail=transfer.to_number[-4:],
        client=client,
        at=at,
    )
    return hold


def release(
    *, state: AppState, staff: CurrentStaff, transfer_id: str, reason: str, client: Client
) -> FraudHold:
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: release_in(
            s,
            transfer_id=transfer_id,
            staff_id=actor_of(staff),
            reason=reason,
            client=client,
            at=now,
            settings=state.settings,
        ),
    )


def refuse(
    *, state: AppState, staff: CurrentStaff, transfer_id: str, reason: str, client: Client
) -> FraudHold:
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: service.refuse(
            s,
            transfer_id=transfer_id,
            staff_id=actor_of(staff),
            reason=reason,
            client=client,
            at=now,
        ),
    )


def holds(*, state: AppState, status: str | None) -> list[service.HoldView]:
    return run_read(state.db, lambda s: service.list_holds(s, status=status))


def hold(*, state: AppState, transfer_id: str) -> service.HoldView:
    return run_read(state.db, lambda s: service.hold_detail(s, transfer_id=transfer_id))


def statistics(*, state: AppState, days: int) -> service.Statistics:
    since = state.clock.now() - timedelta(days=days)
    return run_read(state.db, lambda s: service.statistics(s, since=since))


RulesView = tuple[int, dict[str, dict[str, Any]], list[FraudRuleSet], list[Command]]


def rules(*, state: AppState) -> RulesView:
    """The active version and its parameters, every version, the proposals waiting."""

    def read(s: Session) -> RulesView:
        return (
            service.active_version(s),
            service.current_params(s),
            service.rule_sets(s),
            [
                c
                for c in backoffice.list_commands(s, status="PENDING", limit=200)
                if c.kind == commands.FRAUD_RULES
            ],
        )

    return run_read(state.db, read)


def propose_rules(
    *,
    state: AppState,
    staff: CurrentStaff,
    client: Client,
    params: dict[str, Any],
    reason: str,
) -> Command:
    """New thresholds and switches wait for a supervisor (maker-checker)."""
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: backoffice.propose(
            s,
            customer_id=None,
            kind=commands.FRAUD_RULES,
            payload={"params": params},
            reason=reason,
            staff=staff,
            client=client,
            at=now,
            settings=state.settings,
        ),
    )
