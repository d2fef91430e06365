"""JSON API of inter-bank transfers and the bank directory. Thin routes: parse, call one
use case in `clearing.actions`, render; money POSTs carry an Idempotency-Key. Prepare and
confirm are lean routes, as the transfer's (`payments.api.answer_money_post`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from wangyin.backoffice.context import Staff
from wangyin.clearing import actions
from wangyin.clearing.schemas import (
    BankByCardIn,
    BankOut,
    InterbankCodeIn,
    InterbankConfirmIn,
    InterbankOut,
    InterbankPrepareIn,
    MismatchOut,
    ReconciliationRunOut,
    ResolveIn,
)
from wangyin.errors import DomainError
from wangyin.identity.service import Caller
from wangyin.payments.actions import Answer
from wangyin.payments.api import IdempotencyKey, answer_money_post, opened_factors, respond
from wangyin.web.context import ApiUser, State, caller_of, client_of
from wangyin.web.jsonbody import documented

router = APIRouter(tags=["inter-bank transfers"])


@router.get("/banks", response_model=list[BankOut])
def search_banks(
    user: ApiUser, state: State, q: Annotated[str, Query(max_length=60)] = ""
) -> list[dict[str, str]]:
    """The bank directory (联行号): by code, bank, branch or city name, or pinyin initials."""
    return actions.search_banks(state=state, query=q)


@router.post("/banks/by-card", response_model=BankOut)
def bank_by_card(body: BankByCardIn, user: ApiUser, state: State) -> dict[str, str]:
    """The bank of a card number, from its BIN (posted: card numbers stay out of URLs)."""
    found = actions.bank_of_card(state=state, number=body.card_number)
    if found is None:
        raise DomainError("bank_code_required")
    return found


@router.post(
    "/interbank-transfers",
    status_code=201,
    response_model=InterbankOut,
    openapi_extra=documented(InterbankPrepareIn),
)
async def prepare(request: Request) -> Response:
    """Validate a transfer to another bank; the answer shows the system and when it is sent."""
    return await answer_money_post(request, InterbankPrepareIn, actions.prepare)


@router.post("/interbank-transfers/{transfer_id}/code", status_code=204)
def code(
    transfer_id: str,
    request: Request,
    user: ApiUser,
    state: State,
    body: InterbankCodeIn | None = None,
) -> Response:
    actions.send_code(
        state=state,
        user=user,
        transfer_id=transfer_id,
        channel=(body or InterbankCodeIn()).channel,
        caller=caller_of(request),
    )
    return Response(status_code=204)


@router.post(
    "/interbank-transfers/{transfer_id}/confirm",
    response_model=InterbankOut,
    openapi_extra=documented(InterbankConfirmIn, required=False),
)
async def confirm(transfer_id: str, request: Request) -> Response:
    """Debit the account, once; the worker sends it when its speed says."""

    def run(*, state: Any, caller: Caller, key: str | None, body: InterbankConfirmIn) -> Answer:
        transaction_password, code = opened_factors(request, state, body)
        return actions.confirm(
            state=state,
            caller=caller,
            key=key,
            transfer_id=transfer_id,
            key_digest=body.key_digest,
            transaction_password=transaction_password,
            code=code,
            acknowledged=body.acknowledge_warnings,
        )

    return await answer_money_post(request, InterbankConfirmIn, run, optional=True)


@router.post("/interbank-transfers/{transfer_id}/revoke", response_model=InterbankOut)
def revoke(
    transfer_id: str, request: Request, state: State, idempotency_key: IdempotencyKey = None
) -> Response:
    """Revoke a transfer not yet sent (普通/次日到账): the money is back at once."""

    def run() -> Answer:
        return actions.revoke(
            state=state, caller=caller_of(request), key=idempotency_key, transfer_id=transfer_id
        )

    return respond(request, run)


@router.get("/interbank-transfers/{transfer_id}", response_model=InterbankOut)
def get_transfer(transfer_id: str, user: ApiUser, state: State) -> dict[str, Any]:
    return actions.view(state=state, user=user, transfer_id=transfer_id)


@router.get("/interbank-transfers", response_model=list[InterbankOut])
def list_transfers(user: ApiUser, state: State) -> list[dict[str, Any]]:
    return actions.list_transfers(state=state, user=user)


# --- the back office: daily reconciliation (对账), /api/admin/v1/reconciliation ----------

admin_router = APIRouter(prefix="/api/admin/v1/reconciliation", tags=["back office"])


def run_out(run: Any, mismatches: list[Any]) -> ReconciliationRunOut:
    return ReconciliationRunOut(
        id=run.id,
        day=run.day,
        system=run.system,
        matched=run.matched,
        mismatched=run.mismatched,
        unresolved=sum(1 for m in mismatches if not m.resolved),
        run_at=run.run_at.isoformat(),
        mismatches=[
            MismatchOut(
                id=m.id,
                kind=m.kind,
                reference=m.reference,
                ours=m.ours,
                theirs=m.theirs,
                resolved=m.resolved,
            )
            for m in mismatches
        ],
    )


@admin_router.get("", response_model=list[ReconciliationRunOut])
def reconciliation_runs(staff: Staff, state: State) -> Any:
    """The latest runs (a statement of one system's day matched against our transfers),
    newest day first, each with its differences."""
    return [run_out(run, found) for run, found in actions.reconciliation_runs(state=state)]


@admin_router.get("/{run_id}", response_model=ReconciliationRunOut)
def reconciliation_run(run_id: int, staff: Staff, state: State) -> Any:
    return run_out(*actions.reconciliation_run(state=state, run_id=run_id))


@admin_router.post("/mismatches/{mismatch_id}/resolve", response_model=MismatchOut)
def resolve_mismatch(
    mismatch_id: int, body: ResolveIn, request: Request, staff: Staff, state: State
) -> Any:
    """Close a difference with how it was explained (audited); one already resolved
    answers 409 `mismatch_resolved`."""
    m = actions.resolve_mismatch(
        state=state,
        staff=staff,
        mismatch_id=mismatch_id,
        reason=body.reason,
        client=client_of(request, "admin"),
    )
    return MismatchOut(
        id=m.id,
        kind=m.kind,
        reference=m.reference,
        ours=m.ours,
        theirs=m.theirs,
        resolved=m.resolved,
    )
