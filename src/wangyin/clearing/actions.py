"""Use cases of inter-bank transfers: one transaction each, through payments.actions.guarded
(the session, the Idempotency-Key, the first answer stored, refusals audited)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy.orm import Session

from wangyin.backoffice.service import CurrentStaff, actor_of
from wangyin.clearing import directory, reconciliation
from wangyin.clearing import service as clearing
from wangyin.clearing.schemas import InterbankPrepareIn
from wangyin.clearing.settings import clearing_settings
from wangyin.identity.service import Caller, CurrentUser, require_transfers_allowed
from wangyin.payments import service as payments
from wangyin.payments.actions import Answer, counted_code, guarded
from wangyin.runtime import AppState
from wangyin.security.audit import Client
from wangyin.uow import run_read, run_write


def prepare(
    *, state: AppState, caller: Caller, key: str | None, body: InterbankPrepareIn
) -> Answer:
    now = state.clock.now()

    def execute(s: Session, user: CurrentUser, own: Any) -> tuple[int, dict[str, Any]]:
        require_transfers_allowed(user)
        t = clearing.prepare(
            s,
            customer_id=user.customer_id,
            user_id=user.user_id,
            user_public_id=user.user_public_id,
            **body.model_dump(),
            at=now,
            settings=state.settings,
            clearing=clearing_settings(),
            client=caller.client,
            limits_state=(
                payments.limit_state_of(SimpleNamespace(**user.limits)) if user.limits else None
            ),
            bank_rows=own[0] if own else None,
            source_rows=own[1] if own else None,
        )
        return 201, clearing.view(s, t, at=now, settings=state.settings)

    # The bank's code and the paying account go with the session look-up (one round trip).
    return guarded(
        state,
        caller=caller,
        key=key,
        request={"op": "interbank.prepare", **body.model_dump()},
        details={"step": "prepare", "kind": "interbank", "amount": body.amount[:40]},
        execute=execute,
        with_limits=True,
        read_with_session=clearing.prepare_reads(
            from_account_id=body.from_account_id,
            bank_code=body.bank_code,
            payee_account=body.payee_account,
        ),
    )


def confirm(
    *,
    state: AppState,
    caller: Caller,
    key: str | None,
    transfer_id: str,
    key_digest: str | None,
    transaction_password: str | None,
    code: str | None,
    acknowledged: bool,
) -> Answer:
    now = state.clock.now()

    def execute(s: Session, user: CurrentUser, own: Any) -> tuple[int, dict[str, Any]]:
        # Edition and freeze are decided by `confirm` on the locked user row.
        t = clearing.confirm(
            s,
            customer_id=user.customer_id,
            transfer_id=transfer_id,
            key_digest=key_digest,
            transaction_password=transaction_password,
            code=code,
            acknowledged=acknowledged,
            at=now,
            settings=state.settings,
            clearing=clearing_settings(),
            client=caller.client,
            locked=own,
        )
        return 200, clearing.view(s, t, at=now, settings=state.settings)

    # The transfer is locked, and its clearing sub-account found, with the session look-up.
    return guarded(
        state,
        caller=caller,
        key=key,
        request={
            "op": "interbank.confirm",
            "id": transfer_id,
            "key_digest": key_digest,
            "factors": bool(transaction_password and code),
            "acknowledged": acknowledged,
        },
        details={"step": "confirm", "kind": "interbank", "transfer": transfer_id[:40]},
        execute=execute,
        read_with_session=(
            clearing.confirm_reads(transfer_id, token=caller.token, settings=state.settings)
            if caller.token
            else None
        ),
    )


def revoke(*, state: AppState, caller: Caller, key: str | None, transfer_id: str) -> Answer:
    now = state.clock.now()

    def execute(s: Session, user: CurrentUser, _own: Any) -> tuple[int, dict[str, Any]]:
        t = clearing.revoke(
            s,
            customer_id=user.customer_id,
            transfer_id=transfer_id,
            actor=user.user_public_id,
            at=now,
            client=caller.client,
        )
        return 200, clearing.view(s, t, at=now, settings=state.settings)

    return guarded(
        state,
        caller=caller,
        key=key,
        request={"op": "interbank.revoke", "id": transfer_id},
        details={"step": "revoke", "kind": "interbank", "transfer": transfer_id[:40]},
        execute=execute,
    )


def send_code(
    *, state: AppState, user: CurrentUser, transfer_id: str, channel: str, caller: Caller
) -> None:
    counted_code(
        state=state,
        user=user,
        send=lambda s, at: clearing.send_code(
            s,
            customer_id=user.customer_id,
            transfer_id=transfer_id,
            channel=channel,
            client=caller.client,
            at=at,
            settings=state.settings,
        ),
    )


def view(*, state: AppState, user: CurrentUser, transfer_id: str) -> dict[str, Any]:
    now = state.clock.now()
    return run_read(
        state.db,
        lambda s: clearing.view(
            s,
            clearing.get(s, customer_id=user.customer_id, transfer_id=transfer_id),
            at=now,
            settings=state.settings,
        ),
    )


def list_transfers(*, state: AppState, user: CurrentUser) -> list[dict[str, Any]]:
    now = state.clock.now()
    return run_read(
        state.db,
        lambda s: [
            clearing.view(s, t, at=now, settings=state.settings)
            for t in clearing.list_of(s, customer_id=user.customer_id)
        ],
    )


def _bank(row: Any) -> dict[str, str]:
    return {
        "code": row.code,
        "bank_name": row.bank_name,
        "branch_name": row.branch_name,
        "city": row.city,
    }


def search_banks(*, state: AppState, query: str) -> list[dict[str, str]]:
    return run_read(state.db, lambda s: [_bank(b) for b in directory.search(s, query=query)])


def bank_of_card(*, state: AppState, number: str) -> dict[str, str] | None:
    found = run_read(state.db, lambda s: directory.bank_of_card(s, number))
    return _bank(found) if found else None


def all_banks(*, state: AppState) -> list[dict[str, str]]:
    return run_read(
        state.db, lambda s: [_bank(b) for b in directory.search(s, query="", limit=200)]
    )


# --- the back office: daily reconciliation (对账) ----------------------------------------


def reconciliation_runs(*, state: AppState) -> list[tuple[Any, list[Any]]]:
    """The latest runs with their differences, newest day first."""
    return run_read(state.db, lambda s: reconciliation.report(s))


def reconciliation_run(*, state: AppState, run_id: int) -> tuple[Any, list[Any]]:
    return run_read(state.db, lambda s: reconciliation.run_with_mismatches(s, run_id=run_id))


def resolve_mismatch(
    *, state: AppState, staff: CurrentStaff, mismatch_id: int, reason: str, client: Client
) -> Any:
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: reconciliation.resolve(
            s,
            mismatch_id=mismatch_id,
            staff_id=actor_of(staff),
            reason=reason,
            client=client,
            at=now,
        ),
    )
