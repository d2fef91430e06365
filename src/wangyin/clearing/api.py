"""JSON API of inter-bank transfers and the bank directory. Thin routes: parse, call one
use case in `clearing.actions`, render; money POSTs carry an Idempotency-Key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from wangyin.clearing import actions
from wangyin.clearing.schemas import (
    BankByCardIn,
    BankOut,
    InterbankCodeIn,
    InterbankConfirmIn,
    InterbankOut,
    InterbankPrepareIn,
)
from wangyin.errors import DomainError
from wangyin.payments.actions import Answer
from wangyin.payments.api import IdempotencyKey, respond
from wangyin.security.channel import reveal_many
from wangyin.web.context import ApiUser, State, caller_of

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


@router.post("/interbank-transfers", status_code=201, response_model=InterbankOut)
def prepare(
    body: InterbankPrepareIn, request: Request, state: State, idempotency_key: IdempotencyKey = None
) -> Response:
    """Validate a transfer to another bank; the answer shows the system and when it is sent."""

    def run() -> Answer:
        return actions.prepare(
            state=state, caller=caller_of(request), key=idempotency_key, body=body
        )

    return respond(request, run)


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


@router.post("/interbank-transfers/{transfer_id}/confirm", response_model=InterbankOut)
def confirm(
    transfer_id: str,
    request: Request,
    state: State,
    body: InterbankConfirmIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Debit the account, once; the worker sends it when its speed says."""
    body = body or InterbankConfirmIn()
    clear = reveal_many(
        state,
        {"transaction_password": body.transaction_password, "code": body.code},
        session_token=caller_of(request).token or None,
    )

    def run() -> Answer:
        return actions.confirm(
            state=state,
            caller=caller_of(request),
            key=idempotency_key,
            transfer_id=transfer_id,
            key_digest=body.key_digest,
            transaction_password=clear["transaction_password"] or None,
            code=clear["code"] or None,
            acknowledged=body.acknowledge_warnings,
        )

    return respond(request, run)


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
