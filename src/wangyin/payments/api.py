"""JSON API: transfer prepare -> confirm, both guarded by an Idempotency-Key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from wangyin.idempotency import service as idempotency
from wangyin.identity.service import CurrentUser, require_professional
from wangyin.payments import service as payments
from wangyin.payments.schemas import TransferConfirmIn, TransferOut, TransferPrepareIn
from wangyin.uow import run_read, run_write
from wangyin.web.context import ApiUser, AppState, State

router = APIRouter(tags=["transfers"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Unique per intended action; a replay returns the first result",
    ),
]


def prepare_transfer(
    *, state: AppState, user: CurrentUser, key: str | None, body: TransferPrepareIn
) -> tuple[int, dict[str, Any], bool]:
    """Shared by the API and the transfer page: one transaction, exactly once per key."""
    require_professional(user)
    key = idempotency.check_key(key)
    now = state.clock.now()

    def action(s: Session) -> tuple[int, dict[str, Any], bool]:
        def create() -> tuple[int, dict[str, Any]]:
            transfer = payments.prepare(
                s,
                customer_id=user.customer_id,
                user_id=user.user_id,
                **body.model_dump(),
                at=now,
                settings=state.settings,
            )
            return 201, payments.view(s, transfer, at=now).as_json()

        return idempotency.once(
            s,
            scope=user.user_public_id,
            key=key,
            request={"op": "transfer.prepare", **body.model_dump()},
            at=now,
            action=create,
        )

    return run_write(state.db, action)


def confirm_transfer(
    *,
    state: AppState,
    user: CurrentUser,
    key: str | None,
    transfer_id: str,
    body: TransferConfirmIn,
) -> tuple[int, dict[str, Any], bool]:
    require_professional(user)
    key = idempotency.check_key(key)
    now = state.clock.now()

    def action(s: Session) -> tuple[int, dict[str, Any], bool]:
        def execute() -> tuple[int, dict[str, Any]]:
            transfer = payments.confirm(
                s,
                customer_id=user.customer_id,
                transfer_id=transfer_id,
                key_digest=body.key_digest,
                at=now,
                settings=state.settings,
            )
            return 200, payments.view(s, transfer, at=now).as_json()

        return idempotency.once(
            s,
            scope=user.user_public_id,
            key=key,
            request={"op": "transfer.confirm", "id": transfer_id, **body.model_dump()},
            at=now,
            action=execute,
        )

    return run_write(state.db, action)


def _respond(result: tuple[int, dict[str, Any], bool]) -> JSONResponse:
    status, body, replayed = result
    return JSONResponse(
        body, status_code=status, headers={"Idempotent-Replayed": str(replayed).lower()}
    )


@router.post("/transfers", status_code=201, response_model=TransferOut)
def prepare(
    body: TransferPrepareIn, user: ApiUser, state: State, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Validate a transfer and return the key data to confirm, with its expiry."""
    return _respond(prepare_transfer(state=state, user=user, key=idempotency_key, body=body))


@router.post("/transfers/{transfer_id}/confirm", response_model=TransferOut)
def confirm(
    transfer_id: str,
    user: ApiUser,
    state: State,
    body: TransferConfirmIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Execute a prepared transfer exactly once."""
    return _respond(
        confirm_transfer(
            state=state,
            user=user,
            key=idempotency_key,
            transfer_id=transfer_id,
            body=body or TransferConfirmIn(),
        )
    )


@router.get("/transfers/{transfer_id}", response_model=TransferOut)
def get_transfer(transfer_id: str, user: ApiUser, state: State) -> dict[str, Any]:
    now = state.clock.now()
    return run_read(
        state.db,
        lambda s: payments.view(
            s,
            payments.get_transfer(s, customer_id=user.customer_id, transfer_id=transfer_id),
            at=now,
        ).as_json(),
    )


@router.get("/transfers", response_model=list[TransferOut])
def list_transfers(user: ApiUser, state: State) -> list[dict[str, Any]]:
    now = state.clock.now()
    return run_read(
        state.db,
        lambda s: [
            payments.view(s, t, at=now).as_json()
            for t in payments.list_transfers(s, customer_id=user.customer_id)
        ],
    )
