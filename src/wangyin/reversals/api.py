"""Reversals' JSON API for risk officers (thin: parse, one action, shape the answer),
under /api/admin/v1/risk/cases, authorized by the back office's permission table. The
supervisor approves at POST /api/admin/v1/commands/{id}/approve (the one pipeline)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from wangyin.backoffice.context import Staff
from wangyin.reversals import actions, commands
from wangyin.reversals.schemas import CaseTransferIn, ReversalOut, TransferChoiceOut
from wangyin.risk.schemas import CommandOut
from wangyin.web.context import ApiUser, State, client_of

# The whole prefix here: the route path the permissions are keyed by.
router = APIRouter(prefix="/api/admin/v1/risk/cases", tags=["reversals"])
# Customers (under /api/v1): whether the bank reversed one of their transfers.
customer_router = APIRouter(tags=["transfers"])


@customer_router.get("/transfers/{transfer_id}/reversal", response_model=ReversalOut)
def my_reversal(transfer_id: str, user: ApiUser, state: State) -> Any:
    """Whether the bank reversed (冲正) this transfer of yours, and when; another
    customer's transfer is `transfer_not_found`."""
    found = actions.reversal_of_my_transfer(state=state, user=user, transfer_id=transfer_id)
    return ReversalOut(
        transfer_id=transfer_id,
        reversed=found is not None,
        reversed_at=found.reversed_at if found else None,
    )


@router.get("/{case_id}/transfers", response_model=list[TransferChoiceOut])
def transfers(case_id: int, staff: Staff, state: State) -> Any:
    """The case customer's latest transfers: which can be reversed (intra-bank) or
    recalled (inter-bank), and what became of a reversal or refund request."""
    return [
        TransferChoiceOut(
            kind=c.kind,
            id=c.public_id,
            at=c.at,
            amount=c.amount,
            currency=c.currency,
            payee=c.payee,
            to_account=c.to_account,
            status=c.status,
            reversed_at=c.reversed_at,
            recall_status=c.recall_status,
            recall_reason=c.recall_reason,
            reversible=c.reversible,
            recallable=c.recallable,
        )
        for c in actions.case_transfers(state=state, case_id=case_id)
    ]


def _propose(kind: str, body: CaseTransferIn, request: Request, staff: Staff, state: State) -> Any:
    return CommandOut.model_validate(
        actions.propose_from_case(
            state=state,
            staff=staff,
            client=client_of(request, "admin"),
            kind=kind,
            case_id=body.case_id,
            transfer_id=body.transfer_id,
            reason=body.reason,
        )
    )


@router.post("/reverse", response_model=CommandOut, status_code=202)
def reverse(body: CaseTransferIn, request: Request, staff: Staff, state: State) -> Any:
    """The assignee proposes reversing (冲正) one of the customer's completed intra-bank
    transfers; it runs when a supervisor approves the command."""
    return _propose(commands.REVERSE_TRANSFER, body, request, staff, state)


@router.post("/recall", response_model=CommandOut, status_code=202)
def recall(body: CaseTransferIn, request: Request, staff: Staff, state: State) -> Any:
    """The assignee proposes asking the receiving bank to return an inter-bank transfer
    (退汇申请); approved, the worker sends it and records the bank's answer."""
    return _propose(commands.RECALL_INTERBANK, body, request, staff, state)
