"""JSON API: the customer's mobile alias (register with a texted code, remove), looking up
a mobile number before paying it, and preparing a transfer to a mobile number (confirmed
like any transfer: POST /transfers/{id}/confirm)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request, Response

from wangyin.aliases import actions
from wangyin.aliases.schemas import (
    AliasCodeIn,
    AliasIn,
    AliasOut,
    MobileLookupIn,
    MobilePayeeOut,
    MobileTransferIn,
)
from wangyin.clearing.schemas import InterbankOut
from wangyin.payments.api import IdempotencyKey, respond
from wangyin.payments.schemas import TransferOut
from wangyin.security.channel import reveal_many
from wangyin.web.context import ApiUser, State, caller_of, client_of

router = APIRouter(tags=["mobile transfers"])


@router.get("/mobile-alias", response_model=AliasOut | None)
def get_alias(user: ApiUser, state: State) -> AliasOut | None:
    view = actions.current_alias(state=state, user=user)
    return AliasOut(**asdict(view)) if view else None


@router.post("/mobile-alias/code", status_code=204)
def alias_code(body: AliasCodeIn, request: Request, user: ApiUser, state: State) -> Response:
    """Text a code to the reserved mobile, bound to the account that will receive."""
    actions.send_alias_code(
        state=state,
        user=user,
        client=client_of(request),
        account_id=body.account_id,
        channel=body.channel,
    )
    return Response(status_code=204)


@router.post("/mobile-alias", status_code=201, response_model=AliasOut)
def register_alias(body: AliasIn, request: Request, user: ApiUser, state: State) -> AliasOut:
    # Only the caller's own session's channels open here (4.1.2.2-b).
    opened = reveal_many(state, {"code": body.code}, session_token=caller_of(request).token or None)
    code = opened["code"] or ""
    view = actions.register_alias(
        state=state, user=user, client=client_of(request), account_id=body.account_id, code=code
    )
    return AliasOut(**asdict(view))


@router.delete("/mobile-alias", status_code=204)
def remove_alias(request: Request, user: ApiUser, state: State) -> Response:
    actions.remove_alias(state=state, user=user, client=client_of(request))
    return Response(status_code=204)


@router.post("/mobile-payees/lookup", response_model=MobilePayeeOut)
def look_up(body: MobileLookupIn, user: ApiUser, state: State) -> MobilePayeeOut:
    """The masked name and bank behind a mobile number (10 look-ups an hour), at this bank
    or, through the IBPS network, at another (`via`: ibps). A POST, so the number stays out
    of URLs and access logs. 503 `alias_network_unavailable` (with Retry-After) when the
    network does not answer."""
    return MobilePayeeOut(**asdict(actions.look_up(state=state, user=user, mobile=body.mobile)))


@router.post("/transfers/by-mobile", status_code=201, response_model=TransferOut | InterbankOut)
def prepare_by_mobile(
    body: MobileTransferIn,
    request: Request,
    state: State,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Prepare a transfer to the account behind a mobile number; `name_check` is the
    payee's surname or given name. Confirm it with POST /transfers/{id}/confirm. An alias
    at another bank gives an inter-bank transfer (IBPS, real time; it has `system` and
    `bank_code`): confirm it with POST /interbank-transfers/{id}/confirm and follow it
    with GET /interbank-transfers/{id}. Nothing is prepared, and nothing is stored under
    the Idempotency-Key, when the network does not answer (503 `alias_network_unavailable`)."""
    return respond(
        request,
        lambda: actions.prepare_by_mobile(
            state=state, caller=caller_of(request), key=idempotency_key, body=body
        ),
    )
