"""Use cases of mobile aliases and payment by mobile number: one transaction each."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from wangyin.aliases import service as aliases
from wangyin.aliases.schemas import MobileTransferIn
from wangyin.aliases.service import AliasView, MobilePayee
from wangyin.identity.service import Caller, CurrentUser, require_transfers_allowed
from wangyin.payments import service as payments
from wangyin.payments.actions import Answer, guarded
from wangyin.runtime import AppState
from wangyin.security.audit import Client
from wangyin.uow import run_read, run_write


def current_alias(*, state: AppState, user: CurrentUser) -> AliasView | None:
    return run_read(state.db, lambda s: aliases.current_alias(s, customer_id=user.customer_id))


def send_alias_code(
    *, state: AppState, user: CurrentUser, client: Client, account_id: str, channel: str
) -> None:
    now = state.clock.now()

    def action(s: Session) -> None:
        aliases.send_alias_code(
            s,
            user_id=user.user_id,
            customer_id=user.customer_id,
            account_id=account_id,
            channel=channel,
            at=now,
            settings=state.settings,
            client=client,
        )

    run_write(state.db, action)


def register_alias(
    *, state: AppState, user: CurrentUser, client: Client, account_id: str, code: str
) -> AliasView:
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: aliases.register_alias(
            s,
            user_id=user.user_id,
            customer_id=user.customer_id,
            actor=user.user_public_id,
            account_id=account_id,
            code=code,
            at=now,
            settings=state.settings,
            client=client,
        ),
    )


def remove_alias(*, state: AppState, user: CurrentUser, client: Client) -> None:
    now = state.clock.now()

    def action(s: Session) -> None:
        aliases.remove_alias(
            s, customer_id=user.customer_id, actor=user.user_public_id, at=now, client=client
        )

    run_write(state.db, action)


def look_up(*, state: AppState, user: CurrentUser, mobile: str) -> MobilePayee:
    now = state.clock.now()
    return run_write(
        state.db, lambda s: aliases.look_up(s, customer_id=user.customer_id, mobile=mobile, at=now)
    )


def prepare_by_mobile(
    *, state: AppState, caller: Caller, key: str | None, body: MobileTransferIn
) -> Answer:
    """Resolve the mobile number and prepare the transfer to its account, in one
    transaction under the Idempotency-Key; a miss is counted and stored like any refusal."""
    now = state.clock.now()

    def execute(s: Session, user: CurrentUser, _own: Any) -> tuple[int, dict[str, Any]]:
        require_transfers_allowed(user)
        number, name = aliases.payee_for_transfer(
            s,
            customer_id=user.customer_id,
            mobile=body.to_mobile,
            name_check=body.name_check,
            at=now,
        )
        transfer = payments.prepare(
            s,
            customer_id=user.customer_id,
            user_id=user.user_id,
            from_account_id=body.from_account_id,
            to_account_number=number,
            payee_name=name,
            amount=body.amount,
            currency=body.currency,
            remark=body.remark,
            at=now,
            settings=state.settings,
            client=caller.client,
            user_public_id=user.user_public_id,
        )
        return 201, payments.view(s, transfer, at=now, settings=state.settings).as_json()

    return guarded(
        state,
        caller=caller,
        key=key,
        request={"op": "transfer.prepare_by_mobile", **body.model_dump()},
        details={"step": "prepare", "by": "mobile", "amount": body.amount[:40]},
        execute=execute,
    )
