"""JSON API of the payee book (收款人名册): list and search, add, save from a transfer,
change the nickname or the limit, remove; and the recent payees for "transfer again"."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from wangyin.payees import actions
from wangyin.payees.schemas import (
    PayeeFromTransferIn,
    PayeeIn,
    PayeeOut,
    PayeeUpdateIn,
    RecentPayeeOut,
)
from wangyin.payees.service import PayeeView
from wangyin.web.context import ApiUser, State, client_of

router = APIRouter(tags=["payees"])


def _out(view: PayeeView) -> PayeeOut:
    fields = asdict(view)
    fields.pop("limit_display")
    return PayeeOut(**fields)


@router.get("/payees", response_model=list[PayeeOut])
def list_payees(
    user: ApiUser, state: State, q: Annotated[str, Query(max_length=50)] = ""
) -> list[PayeeOut]:
    """The customer's payees, most recently paid first; `q` searches the name, nickname,
    pinyin initials (zw → 张伟) and the account number's tail (3+ digits)."""
    return [_out(v) for v in actions.list_payees(state=state, user=user, query=q)]


@router.get("/payees/recent", response_model=list[RecentPayeeOut])
def recent_payees(user: ApiUser, state: State) -> list[RecentPayeeOut]:
    """Payees of the last completed transfers (再转一笔), saved or not."""
    return [RecentPayeeOut(**asdict(r)) for r in actions.recent_payees(state=state, user=user)]


@router.post("/payees", status_code=201, response_model=PayeeOut)
def add_payee(body: PayeeIn, request: Request, user: ApiUser, state: State) -> PayeeOut:
    return _out(
        actions.add_payee(
            state=state,
            user=user,
            client=client_of(request),
            name=body.name,
            account_number=body.account_number,
            nickname=body.nickname,
            limit=body.limit,
        )
    )


@router.post("/payees/from-transfer", status_code=201, response_model=PayeeOut)
def save_from_transfer(
    body: PayeeFromTransferIn, request: Request, user: ApiUser, state: State
) -> PayeeOut:
    """Save the payee of one of the customer's completed transfers."""
    return _out(
        actions.save_from_transfer(
            state=state,
            user=user,
            client=client_of(request),
            transfer_id=body.transfer_id,
            nickname=body.nickname,
        )
    )


@router.get("/payees/{payee_id}", response_model=PayeeOut)
def get_payee(payee_id: str, user: ApiUser, state: State) -> PayeeOut:
    return _out(actions.get_payee(state=state, user=user, payee_id=payee_id))


@router.patch("/payees/{payee_id}", response_model=PayeeOut)
def update_payee(
    payee_id: str, body: PayeeUpdateIn, request: Request, user: ApiUser, state: State
) -> PayeeOut:
    return _out(
        actions.update_payee(
            state=state,
            user=user,
            client=client_of(request),
            payee_id=payee_id,
            nickname=body.nickname,
            limit=body.limit,
        )
    )


@router.delete("/payees/{payee_id}", status_code=204)
def remove_payee(payee_id: str, request: Request, user: ApiUser, state: State) -> Response:
    actions.remove_payee(state=state, user=user, client=client_of(request), payee_id=payee_id)
    return Response(status_code=204)
