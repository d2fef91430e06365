"""JSON API: transfer prepare -> (code) -> confirm, money POSTs guarded by an Idempotency-Key.

Thin routes: parse, call one use case in `payments.actions`, render."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from wangyin.errors import DomainError
from wangyin.identity.service import Caller
from wangyin.payments import actions
from wangyin.payments.actions import Answer
from wangyin.payments.schemas import (
    TransferCodeIn,
    TransferConfirmIn,
    TransferOut,
    TransferPrepareIn,
)
from wangyin.security.channel import reveal_many
from wangyin.web.context import ApiUser, State, app_state, caller_of, session_token_of
from wangyin.web.jsonbody import documented, idempotency_key, json_body

router = APIRouter(tags=["transfers"])
M = TypeVar("M", bound=BaseModel)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Unique per intended action; a replay returns the first result, "
        "a refusal included",
    ),
]


def opened_factors(request: Request, state: Any, body: Any) -> tuple[str | None, str | None]:
    """A confirmation's transaction password and code, opened from their envelopes (only
    the caller's own session's channels open here: 4.1.2.2-b); None when not sent."""
    clear = reveal_many(
        state,
        {"transaction_password": body.transaction_password, "code": body.code},
        session_token=session_token_of(request) or None,
    )
    return clear["transaction_password"] or None, clear["code"] or None


def respond(request: Request, run: Any) -> Response:
    """The use case's answer, first or replayed (`Idempotent-Replayed`), refusals included."""
    try:
        status, body, replayed = run()
    except DomainError as error:
        if not (error.replayed or error.keep):
            raise  # not an answer stored under the key (auth, key errors, unavailable)
        from wangyin.app import problem  # the one problem+json renderer

        response = problem(request, error)
        response.headers["Idempotent-Replayed"] = str(error.replayed).lower()
        return response
    return JSONResponse(
        body, status_code=status, headers={"Idempotent-Replayed": str(replayed).lower()}
    )


async def answer_money_post(
    request: Request,
    model: type[M],
    use_case: Callable[..., Answer],
    *,
    optional: bool = False,
) -> Response:
    """A lean money POST (web/jsonbody.py, dispatched by web/fastlane.py): its JSON body as
    `model` (an empty one when `optional` and none was sent), the caller and the
    Idempotency-Key read here, then `use_case(state=, caller=, key=, body=)` in the thread
    pool, answered by `respond` (first or replayed)."""
    body = await json_body(request, model, optional=optional)
    if body is None:
        body = model()
    state, caller, key = app_state(request), caller_of(request), idempotency_key(request)
    return await run_in_threadpool(
        respond, request, lambda: use_case(state=state, caller=caller, key=key, body=body)
    )


@router.post(
    "/transfers",
    status_code=201,
    response_model=TransferOut,
    openapi_extra=documented(TransferPrepareIn),
)
async def prepare(request: Request) -> Response:
    """Validate a transfer and return the key data to confirm, with its expiry."""
    return await answer_money_post(request, TransferPrepareIn, actions.prepare_transfer)


@router.post("/transfers/{transfer_id}/code", status_code=204)
def transfer_code(
    transfer_id: str,
    request: Request,
    user: ApiUser,
    state: State,
    body: TransferCodeIn | None = None,
) -> Response:
    """Send a code bound to this transfer's key data (payee, amount, currency, time)."""
    actions.send_transfer_code(
        state=state,
        user=user,
        transfer_id=transfer_id,
        channel=(body or TransferCodeIn()).channel,
        caller=caller_of(request),
    )
    return Response(status_code=204)


@router.post(
    "/transfers/{transfer_id}/confirm",
    response_model=TransferOut,
    openapi_extra=documented(TransferConfirmIn, required=False),
)
async def confirm(transfer_id: str, request: Request) -> Response:
    """Execute a prepared transfer exactly once: transaction password + code, unless it is
    a small password-free payment (`second_factor_required` is false). A retry with the
    same Idempotency-Key re-encrypts the factors (a new counter): an envelope is good once."""

    def run(*, state: Any, caller: Caller, key: str | None, body: TransferConfirmIn) -> Answer:
        transaction_password, code = opened_factors(request, state, body)
        return actions.confirm_transfer(
            state=state,
            caller=caller,
            key=key,
            transfer_id=transfer_id,
            key_digest=body.key_digest,
            transaction_password=transaction_password,
            code=code,
            acknowledged=body.acknowledge_warnings,
        )

    return await answer_money_post(request, TransferConfirmIn, run, optional=True)


@router.get("/transfers/{transfer_id}", response_model=TransferOut)
def get_transfer(transfer_id: str, user: ApiUser, state: State) -> dict[str, Any]:
    return actions.transfer_view(state=state, user=user, transfer_id=transfer_id).as_json()


@router.get("/transfers", response_model=list[TransferOut])
def list_transfers(user: ApiUser, state: State) -> list[dict[str, Any]]:
    return actions.list_transfers(state=state, user=user)
