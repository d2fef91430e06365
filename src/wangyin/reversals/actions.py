"""Reversals' use cases, shared by the JSON API and the pages: one transaction each.

A risk officer working a case proposes, for the case's customer, a reversal of an
intra-bank transfer or a refund request to the receiving bank of an inter-bank one; a
supervisor approves the command in the back office's queue (the pipeline runs it)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from wangyin.backoffice.models import Command
from wangyin.backoffice.service import CurrentStaff
from wangyin.errors import DomainError
from wangyin.identity.service import CurrentUser
from wangyin.payments import service as payments
from wangyin.reversals import commands, service
from wangyin.reversals.models import TransferReversal
from wangyin.risk import service as risk
from wangyin.runtime import AppState
from wangyin.security.audit import Client
from wangyin.uow import run_read, run_write


def propose_from_case(
    *,
    state: AppState,
    staff: CurrentStaff,
    client: Client,
    kind: str,
    case_id: int,
    transfer_id: str,
    reason: str,
) -> Command:
    """The case's assignee proposes `reverse_transfer` or `recall_interbank` for one of
    the case customer's transfers; it waits for a supervisor (never the maker) and runs
    when approved (a recall: the worker then sends it to the receiving bank)."""
    if kind not in commands.KINDS:
        raise DomainError("not_found")
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: service.propose_from_case(
            s, case_id=case_id, kind=kind, transfer_id=transfer_id, reason=reason,
            staff=staff, client=client, at=now, settings=state.settings,
        ),
    )  # fmt: skip


def case_transfers(*, state: AppState, case_id: int) -> list[service.TransferChoice]:
    """The case customer's transfers with their reversal or refund request (none for a
    case about no customer)."""

    def read(s: Session) -> list[service.TransferChoice]:
        case = risk.get_case(s, case_id=case_id)
        if case.customer_id is None:
            return []
        return service.transfers_of(s, customer_id=case.customer_id)

    return run_read(state.db, read)


def my_reversal(*, state: AppState, user: CurrentUser, transfer_id: str) -> TransferReversal | None:
    """The reversal of the signed-in customer's own transfer, if any."""
    return run_read(
        state.db,
        lambda s: service.customer_reversal(
            s, customer_id=user.customer_id, transfer_id=transfer_id
        ),
    )


def reversal_of_my_transfer(
    *, state: AppState, user: CurrentUser, transfer_id: str
) -> TransferReversal | None:
    """As `my_reversal`, refusing another customer's transfer like none
    (`transfer_not_found`)."""

    def read(s: Session) -> TransferReversal | None:
        payments.get_transfer(s, customer_id=user.customer_id, transfer_id=transfer_id)
        return service.customer_reversal(s, customer_id=user.customer_id, transfer_id=transfer_id)

    return run_read(state.db, read)
