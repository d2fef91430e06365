"""Use cases of payments: one function per business action, one transaction each.

Both the JSON API (`payments/api.py`) and the pages (`payments/pages.py`) call these; the
routes only parse, call and render. Inside the one transaction: the caller's session is
resolved (with the answer already stored under the Idempotency-Key, in the same
statement), the action runs exactly once per key, and a refusal is audited and stored
under the key in that same transaction, which then commits (rule 4 and rule 9).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy.orm import Session

from wangyin.db import read_together
from wangyin.errors import DomainError
from wangyin.idempotency import service as idempotency
from wangyin.identity import service as identity
from wangyin.identity.service import Caller, CurrentUser, require_transfers_allowed
from wangyin.payments import service as payments
from wangyin.payments.schemas import TransferPrepareIn
from wangyin.runtime import AppState
from wangyin.security import audit, ratelimit
from wangyin.uow import run_read, run_write

Answer = tuple[int, dict[str, Any], bool]  # (HTTP status, body, replayed)

# Answers about the system, not the customer's request: nothing to audit.
UNAUDITED = {"busy", "service_unavailable", "outcome_unknown", "alias_at_network"}


def _audit_refusal(
    s: Session, user: CurrentUser, caller: Caller, error: DomainError, details: dict[str, Any]
) -> None:
    """Every refused attempt is logged (4.1.5.2-f), in the transaction that refused it."""
    audit.append(
        s,
        event="transfer_refused",
        outcome="refused",
        actor=user.user_public_id,
        at=s.info["now"],
        client=caller.client,
        customer_id=user.customer_id,
        details={**details, "reason": error.code},
    )
    error.keep = True


def guarded(
    state: AppState,
    *,
    caller: Caller,
    key: str | None,
    request: dict[str, Any],
    details: dict[str, Any],
    execute: Any,
    with_limits: bool = False,
    read_with_session: Any = None,
) -> Answer:
    """The shape every money POST shares: authenticate, check the key, run once.

    The session look-up (with the answer stored under the key) and the action's own first
    reads (`read_with_session`: statements that depend only on the request, e.g. the
    accounts named in it) go to the database together, in one round trip; `execute` gets
    their rows, one list per statement."""
    now = state.clock.now()

    def action(s: Session) -> Answer:
        s.info["now"] = now
        checked = key if idempotency.valid_key(key) else None
        reads = [
            identity.session_read(
                token=caller.token, idempotency_key=checked, with_limits=with_limits
            )
        ]
        if read_with_session is not None and caller.token:
            reads.extend(read_with_session)
        rows = read_together(s, reads) if caller.token else [[]]
        user = identity.authenticate_caller(
            s,
            caller=caller,
            at=now,
            settings=state.settings,
            idempotency_key=checked,
            with_limits=with_limits,
            session_rows=rows[0],
        )
        own_rows = rows[1:] if len(rows) > 1 else None
        try:
            checked = idempotency.check_key(key)
            return idempotency.once(
                s,
                scope=user.user_public_id,
                key=checked,
                request=request,
                at=now,
                action=lambda: execute(s, user, own_rows),
                stored=user.stored_answer,
            )
        except DomainError as error:
            if not error.replayed and error.code not in UNAUDITED:
                _audit_refusal(s, user, caller, error, details)
            raise

    return run_write(state.db, action)


def prepare_transfer(
    *, state: AppState, caller: Caller, key: str | None, body: TransferPrepareIn
) -> Answer:
    """Validate a transfer and fix the key data the customer confirms."""
    now = state.clock.now()

    def execute(s: Session, user: CurrentUser, own: Any) -> tuple[int, dict[str, Any]]:
        require_transfers_allowed(user)
        transfer = payments.prepare(
            s,
            customer_id=user.customer_id,
            user_id=user.user_id,
            **body.model_dump(),
            at=now,
            settings=state.settings,
            client=caller.client,
            user_public_id=user.user_public_id,
            limits_state=(
                payments.limit_state_of(SimpleNamespace(**user.limits)) if user.limits else None
            ),
            parties=own[0] if own else None,
            payee_misses=own[1] if own else None,
        )
        return 201, payments.view(s, transfer, at=now, settings=state.settings).as_json()

    return guarded(
        state,
        caller=caller,
        key=key,
        request={"op": "transfer.prepare", **body.model_dump()},
        details={"step": "prepare", "amount": body.amount[:40], "currency": body.currency[:3]},
        execute=execute,
        with_limits=True,
        read_with_session=[
            payments.parties_read(body.from_account_id, body.to_account_number),
            payments.payee_misses_read(token=caller.token),
        ],
    )


def confirm_transfer(
    *,
    state: AppState,
    caller: Caller,
    key: str | None,
    transfer_id: str,
    key_digest: str | None,
    transaction_password: str | None,
    code: str | None,
    acknowledged: bool = False,
) -> Answer:
    """Execute a prepared transfer exactly once; the factors are already revealed
    (`channel.reveal_many` by the API route, the form for the page)."""
    now = state.clock.now()

    def execute(s: Session, user: CurrentUser, locked: Any) -> tuple[int, dict[str, Any]]:
        # Edition and freeze are checked by `confirm` on the locked user row, not here on
        # the session's snapshot (rule 9).
        transfer = payments.confirm(
            s,
            customer_id=user.customer_id,
            transfer_id=transfer_id,
            key_digest=key_digest,
            transaction_password=transaction_password,
            code=code,
            at=now,
            settings=state.settings,
            client=caller.client,
            locked_transfer=locked[0] if locked else None,
            acknowledged=acknowledged,
        )
        return 200, payments.view(s, transfer, at=now, settings=state.settings).as_json()

    # The stored request is what identifies a replay; the secrets in it are not stored.
    return guarded(
        state,
        caller=caller,
        key=key,
        request={
            "op": "transfer.confirm",
            "id": transfer_id,
            "key_digest": key_digest,
            "factors": bool(transaction_password and code),
            "acknowledged": acknowledged,
        },
        details={"step": "confirm", "transfer": transfer_id[:40]},
        execute=execute,
        read_with_session=[payments.transfer_lock_read(transfer_id, token=caller.token)],
    )


def counted_code(
    *, state: AppState, user: CurrentUser, send: Callable[[Session, datetime], None]
) -> None:
    """A code bound to an instruction's key data (a transfer, an inter-bank transfer, a
    schedule, a batch): counted against the customer's code limit and sent (`send(s, at)`)
    in one transaction; a send refused still counts, as an attempt."""
    require_transfers_allowed(user)
    now = state.clock.now()
    run_write(
        state.db,
        lambda s: ratelimit.count_then(
            s,
            user_id=user.user_id,
            action="code",
            at=now,
            settings=state.settings,
            then=lambda: send(s, now),
        ),
    )


def send_transfer_code(
    *, state: AppState, user: CurrentUser, transfer_id: str, channel: str, caller: Caller
) -> None:
    """A code bound to the transfer's key data, within the per-customer code limit."""
    counted_code(
        state=state,
        user=user,
        send=lambda s, at: payments.send_code(
            s,
            customer_id=user.customer_id,
            transfer_id=transfer_id,
            channel=channel,
            client=caller.client,
            at=at,
            settings=state.settings,
        ),
    )


def transfer_view(*, state: AppState, user: CurrentUser, transfer_id: str) -> payments.TransferView:
    now = state.clock.now()
    return run_read(
        state.db,
        lambda s: payments.view(
            s,
            payments.get_transfer(s, customer_id=user.customer_id, transfer_id=transfer_id),
            at=now,
            settings=state.settings,
        ),
    )


def list_transfers(*, state: AppState, user: CurrentUser) -> list[dict[str, Any]]:
    now = state.clock.now()
    return run_read(
        state.db,
        lambda s: [
            payments.view(s, t, at=now, settings=state.settings).as_json()
            for t in payments.list_transfers(s, customer_id=user.customer_id)
        ],
    )
