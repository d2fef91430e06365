"""JSON API: transfer prepare -> (code) -> confirm, money POSTs guarded by an Idempotency-Key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from wangyin.errors import DomainError
from wangyin.idempotency import service as idempotency
from wangyin.identity import flows, otp
from wangyin.identity import service as identity
from wangyin.identity.service import CurrentUser, require_transfers_allowed
from wangyin.payments import service as payments
from wangyin.payments.schemas import (
    TransferCodeIn,
    TransferConfirmIn,
    TransferOut,
    TransferPrepareIn,
)
from wangyin.security import audit
from wangyin.security.audit import Client
from wangyin.security.channel import reveal_many
from wangyin.uow import run_read, run_write
from wangyin.web.context import ApiUser, AppState, State, client_of

router = APIRouter(tags=["transfers"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Unique per intended action; a replay returns the first result",
    ),
]


def _record_refusal(
    state: AppState,
    user: CurrentUser,
    client: Client,
    error: DomainError,
    details: dict[str, Any],
    *,
    digest: str | None = None,
) -> None:
    """Every refused attempt is logged (4.1.5.2-f), in its own transaction since the
    action's rolled back; a wrong code also counts against that code."""
    now = state.clock.now()

    def action(s: Session) -> None:
        if error.code == "second_factor_invalid" and digest:
            if error.params.get("code_wrong"):
                otp.record_wrong_code(
                    s,
                    user_id=user.user_id,
                    purpose="transfer",
                    binding=digest,
                    settings=state.settings,
                    at=now,
                    client=client,
                )
            elif error.params.get("pin_wrong"):
                # Counted only with the right code: whoever guesses has the customer's
                # phone, and a stranger cannot lock the customer out with random PINs.
                identity.record_pin_failure(s, user_id=user.user_id, client=client, at=now)
        audit.append(
            s,
            event="transfer_refused",
            outcome="refused",
            actor=user.user_public_id,
            at=now,
            client=client,
            customer_id=user.customer_id,
            details={**details, "reason": error.code},
        )

    run_write(state.db, action)


def prepare_transfer(
    *,
    state: AppState,
    user: CurrentUser,
    key: str | None,
    body: TransferPrepareIn,
    client: Client,
) -> tuple[int, dict[str, Any], bool]:
    """Shared by the API and the transfer page: one transaction, exactly once per key."""
    now = state.clock.now()

    def action(s: Session, key: str) -> tuple[int, dict[str, Any], bool]:
        def create() -> tuple[int, dict[str, Any]]:
            transfer = payments.prepare(
                s,
                customer_id=user.customer_id,
                user_id=user.user_id,
                **body.model_dump(),
                at=now,
                settings=state.settings,
                client=client,
            )
            return 201, payments.view(s, transfer, at=now, settings=state.settings).as_json()

        return idempotency.once(
            s,
            scope=user.user_public_id,
            key=key,
            request={"op": "transfer.prepare", **body.model_dump()},
            at=now,
            action=create,
        )

    try:
        # Refusals before the transaction (edition, freeze, key) are logged as well.
        require_transfers_allowed(user)
        checked = idempotency.check_key(key)
        return run_write(state.db, lambda s: action(s, checked))
    except DomainError as exc:
        _record_refusal(
            state,
            user,
            client,
            exc,
            {"step": "prepare", "amount": body.amount[:40], "currency": body.currency[:3]},
        )
        raise


def confirm_transfer(
    *,
    state: AppState,
    user: CurrentUser,
    key: str | None,
    transfer_id: str,
    key_digest: str | None,
    transaction_password: str | None,
    code: str | None,
    client: Client,
) -> tuple[int, dict[str, Any], bool]:
    """Shared by the API and the confirmation page; the factors are already revealed
    (`channel.reveal_many` by the API route, `forms.form_data` for the page)."""
    now = state.clock.now()
    # The stored request is what identifies a replay; the secrets in it are not stored.
    fingerprint = {
        "op": "transfer.confirm",
        "id": transfer_id,
        "key_digest": key_digest,
        "factors": bool(transaction_password and code),
    }

    def action(s: Session, key: str) -> tuple[int, dict[str, Any], bool]:
        def execute() -> tuple[int, dict[str, Any]]:
            transfer = payments.confirm(
                s,
                customer_id=user.customer_id,
                transfer_id=transfer_id,
                key_digest=key_digest,
                transaction_password=transaction_password,
                code=code,
                at=now,
                settings=state.settings,
                client=client,
            )
            return 200, payments.view(s, transfer, at=now, settings=state.settings).as_json()

        return idempotency.once(
            s, scope=user.user_public_id, key=key, request=fingerprint, at=now, action=execute
        )

    try:
        require_transfers_allowed(user)
        checked = idempotency.check_key(key)
        return run_write(state.db, lambda s: action(s, checked))
    except DomainError as exc:
        digest = run_read(state.db, lambda s: _digest_or_none(s, user, transfer_id))
        _record_refusal(
            state,
            user,
            client,
            exc,
            {"step": "confirm", "transfer": transfer_id[:40]},
            digest=digest,
        )
        raise


def _digest_or_none(s: Session, user: CurrentUser, transfer_id: str) -> str | None:
    try:
        return payments.get_transfer(
            s, customer_id=user.customer_id, transfer_id=transfer_id
        ).key_digest
    except DomainError:
        return None


def send_transfer_code(
    *, state: AppState, user: CurrentUser, transfer_id: str, channel: str, client: Client
) -> None:
    require_transfers_allowed(user)
    flows.limit_account(state, user_id=user.user_id, action="code")
    now = state.clock.now()
    run_write(
        state.db,
        lambda s: payments.send_code(
            s,
            customer_id=user.customer_id,
            transfer_id=transfer_id,
            channel=channel,
            client=client,
            at=now,
            settings=state.settings,
        ),
    )


def _respond(result: tuple[int, dict[str, Any], bool]) -> JSONResponse:
    status, body, replayed = result
    return JSONResponse(
        body, status_code=status, headers={"Idempotent-Replayed": str(replayed).lower()}
    )


@router.post("/transfers", status_code=201, response_model=TransferOut)
def prepare(
    body: TransferPrepareIn,
    request: Request,
    user: ApiUser,
    state: State,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Validate a transfer and return the key data to confirm, with its expiry."""
    return _respond(
        prepare_transfer(
            state=state, user=user, key=idempotency_key, body=body, client=client_of(request)
        )
    )


@router.post("/transfers/{transfer_id}/code", status_code=204)
def transfer_code(
    transfer_id: str,
    request: Request,
    user: ApiUser,
    state: State,
    body: TransferCodeIn | None = None,
) -> Response:
    """Send a code bound to this transfer's key data (payee, amount, currency, time)."""
    send_transfer_code(
        state=state,
        user=user,
        transfer_id=transfer_id,
        channel=(body or TransferCodeIn()).channel,
        client=client_of(request),
    )
    return Response(status_code=204)


@router.post("/transfers/{transfer_id}/confirm", response_model=TransferOut)
def confirm(
    transfer_id: str,
    request: Request,
    user: ApiUser,
    state: State,
    body: TransferConfirmIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Execute a prepared transfer exactly once: transaction password + code, unless it is
    a small password-free payment (`second_factor_required` is false). A retry with the
    same Idempotency-Key re-encrypts the factors (a new counter): an envelope is good once."""
    body = body or TransferConfirmIn()
    clear = reveal_many(
        state, {"transaction_password": body.transaction_password, "code": body.code}
    )
    return _respond(
        confirm_transfer(
            state=state,
            user=user,
            key=idempotency_key,
            transfer_id=transfer_id,
            key_digest=body.key_digest,
            transaction_password=clear["transaction_password"] or None,
            code=clear["code"] or None,
            client=client_of(request),
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
            settings=state.settings,
        ).as_json(),
    )


@router.get("/transfers", response_model=list[TransferOut])
def list_transfers(user: ApiUser, state: State) -> list[dict[str, Any]]:
    now = state.clock.now()
    return run_read(
        state.db,
        lambda s: [
            payments.view(s, t, at=now, settings=state.settings).as_json()
            for t in payments.list_transfers(s, customer_id=user.customer_id)
        ],
    )
