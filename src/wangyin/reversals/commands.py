"""Reversals' kinds of back-office command (maker-checker through the back office's one
pipeline, `backoffice.service.propose` / `approve`), proposed from a risk case about the
command's customer (actions.propose_reversal / propose_recall):

- `reverse_transfer`: a risk officer proposes to reverse (冲正) one of the customer's
  completed intra-bank transfers; a supervisor, never the maker, approves; it runs once in
  the approving transaction (service.reverse_transfer).
- `recall_interbank`: a risk officer proposes to ask the receiving bank to return an
  inter-bank transfer (退汇申请); a supervisor approves; the request is recorded then and
  sent to the network by the worker (tasks.send_recalls).

Imported by the reversals API (so the kinds are registered whenever the back office runs)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wangyin.backoffice import actions
from wangyin.backoffice.actions import Context, Handler
from wangyin.backoffice.models import Command
from wangyin.clearing.settings import clearing_settings
from wangyin.config import Settings
from wangyin.errors import DomainError
from wangyin.identity.models import Customer
from wangyin.money import format_grouped
from wangyin.reversals import service
from wangyin.security.masking import mask_name

REVERSE_TRANSFER = "reverse_transfer"
RECALL_INTERBANK = "recall_interbank"
KINDS = (REVERSE_TRANSFER, RECALL_INTERBANK)


def _customer(customer: Customer | None) -> Customer:
    if customer is None:
        raise DomainError("validation_error")
    return customer


def _no_other_proposal(session: Session, *, customer: Customer, transfer_id: str) -> None:
    """One proposal per transfer waits at a time (either kind)."""
    for payload in session.scalars(
        select(Command.payload).where(
            Command.kind.in_(KINDS),
            Command.status == "PENDING",
            Command.customer_id == customer.id,
        )
    ):
        if json.loads(payload).get("transfer_id") == transfer_id:
            raise DomainError("reversal_already_proposed")


def _command_running(session: Session, *, kind: str, customer: Customer, transfer_id: str) -> str:
    """The public id of the command being approved (locked by the pipeline, decided, not
    yet executed): the one waiting for this transfer."""
    for public_id, payload in session.execute(
        select(Command.public_id, Command.payload).where(
            Command.kind == kind,
            Command.status == "PENDING",
            Command.customer_id == customer.id,
            Command.checker_id.is_not(None),
        )
    ):
        if json.loads(payload).get("transfer_id") == transfer_id:
            return str(public_id)
    return ""


def _validate(
    session: Session,
    *,
    customer: Customer | None,
    payload: dict[str, Any],
    settings: Settings,
    check: Callable[..., Any],
    reason_key: str,
) -> dict[str, Any]:
    """The case (about this customer), the transfer as `check` finds it, one proposal per
    transfer; what the checker reads: the amount and the masked payee, never a number."""
    customer = _customer(customer)
    case = service.case_of_customer(
        session, case_id=payload.get("case_id"), customer_id=customer.id
    )
    transfer = check(session, customer_id=customer.id, transfer_id=payload.get("transfer_id"))
    _no_other_proposal(session, customer=customer, transfer_id=transfer.public_id)
    return {
        "transfer_id": transfer.public_id,
        "case_id": case.id,
        "amount": format_grouped(transfer.amount_minor, transfer.currency),
        "currency": transfer.currency,
        "payee": mask_name(transfer.payee_name),
        reason_key: service.clean_reason(payload.get("reason")),
    }


def _run(
    session: Session,
    kind: str,
    *,
    customer: Customer | None,
    payload: dict[str, Any],
    context: Context,
) -> dict[str, Any]:
    """What both kinds' executions are given: the command being approved among them."""
    found = _customer(customer)
    transfer_id = payload["transfer_id"]
    return {
        "customer_id": found.id,
        "transfer_id": transfer_id,
        "command_id": _command_running(session, kind=kind, customer=found, transfer_id=transfer_id),
        "case_id": payload.get("case_id"),
        "actor": context.actor,
        "client": context.client,
        "at": context.at,
    }


def _reverse(
    session: Session, *, customer: Customer | None, payload: dict[str, Any], context: Context
) -> None:
    given = _run(session, REVERSE_TRANSFER, customer=customer, payload=payload, context=context)
    service.reverse_transfer(session, reason=payload["reversal_reason"], **given)


def _recall(
    session: Session, *, customer: Customer | None, payload: dict[str, Any], context: Context
) -> None:
    given = _run(session, RECALL_INTERBANK, customer=customer, payload=payload, context=context)
    service.request_recall(
        session,
        reason=payload["recall_reason"],
        return_days=clearing_settings().return_days,
        **given,
    )


actions.register(
    REVERSE_TRANSFER,
    Handler(
        partial(_validate, check=service.check_reversible, reason_key="reversal_reason"), _reverse
    ),
)
# A recall's return window is decided again, with the clock, when it is approved.
actions.register(
    RECALL_INTERBANK,
    Handler(
        partial(
            _validate, check=partial(service.check_recallable, at=None), reason_key="recall_reason"
        ),
        _recall,
    ),
)
