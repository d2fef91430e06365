"""Use cases of scheduled transfers, shared by the JSON API and the pages: one
transaction each. Giving and confirming an instruction are money POSTs: they share
`payments.actions.guarded` (session, Idempotency-Key, the first answer stored, refusals
audited and kept with their counted tries)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from wangyin.identity.service import Caller, CurrentUser, require_transfers_allowed
from wangyin.payments.actions import Answer, counted_code, guarded
from wangyin.runtime import AppState
from wangyin.schedules import service as schedules
from wangyin.schedules.schemas import ScheduleIn
from wangyin.security.audit import Client
from wangyin.uow import run_read, run_write


def give(
    *,
    state: AppState,
    caller: Caller,
    key: str | None,
    body: ScheduleIn,
    replaces: str | None = None,
) -> Answer:
    """A new instruction (or an edit of `replaces`), pending its confirmation."""
    now = state.clock.now()
    lang = caller.client.language

    def execute(s: Session, user: CurrentUser, _own: Any) -> tuple[int, dict[str, Any]]:
        require_transfers_allowed(user)
        plan = schedules.parse_plan(
            frequency=body.frequency,
            start_date=body.start_date,
            start_time=body.start_time,
            end_date=body.end_date,
            max_runs=body.max_runs,
            at=now,
        )
        schedule = schedules.give(
            s,
            customer_id=user.customer_id,
            user_id=user.user_id,
            actor=user.user_public_id,
            from_account_id=body.from_account_id,
            to_account_number=body.to_account_number,
            payee_name=body.payee_name,
            amount=body.amount,
            remark=body.remark,
            plan=plan,
            at=now,
            settings=state.settings,
            client=caller.client,
            replaces=replaces,
        )
        return 201, schedules.view(s, schedule, lang=lang, settings=state.settings)

    return guarded(
        state,
        caller=caller,
        key=key,
        request={"op": "schedule.give", "replaces": replaces, **body.model_dump()},
        details={"step": "schedule", "amount": body.amount[:40]},
        execute=execute,
    )


def confirm(
    *,
    state: AppState,
    caller: Caller,
    key: str | None,
    schedule_id: str,
    key_digest: str | None,
    transaction_password: str | None,
    code: str | None,
) -> Answer:
    now = state.clock.now()
    lang = caller.client.language

    def execute(s: Session, user: CurrentUser, _own: Any) -> tuple[int, dict[str, Any]]:
        schedule = schedules.confirm(
            s,
            customer_id=user.customer_id,
            actor=user.user_public_id,
            schedule_id=schedule_id,
            key_digest=key_digest,
            transaction_password=transaction_password,
            code=code,
            at=now,
            settings=state.settings,
            client=caller.client,
        )
        return 200, schedules.view(s, schedule, lang=lang, settings=state.settings)

    return guarded(
        state,
        caller=caller,
        key=key,
        request={
            "op": "schedule.confirm",
            "id": schedule_id,
            "key_digest": key_digest,
            "factors": bool(transaction_password and code),
        },
        details={"step": "schedule_confirm", "schedule": schedule_id[:40]},
        execute=execute,
    )


def send_code(
    *, state: AppState, user: CurrentUser, schedule_id: str, channel: str, client: Client
) -> None:
    counted_code(
        state=state,
        user=user,
        send=lambda s, at: schedules.send_code(
            s,
            customer_id=user.customer_id,
            schedule_id=schedule_id,
            channel=channel,
            client=client,
            at=at,
            settings=state.settings,
        ),
    )


def change_state(
    *, state: AppState, user: CurrentUser, client: Client, schedule_id: str, action: str
) -> dict[str, Any]:
    """Pause, resume or cancel (no money moves, nothing to confirm)."""
    now = state.clock.now()

    def act(s: Session) -> dict[str, Any]:
        schedule = schedules.change_state(
            s,
            customer_id=user.customer_id,
            actor=user.user_public_id,
            schedule_id=schedule_id,
            action=action,
            at=now,
            client=client,
        )
        return schedules.view(s, schedule, lang=client.language, settings=state.settings)

    return run_write(state.db, act)


def list_schedules(*, state: AppState, user: CurrentUser, lang: str) -> list[dict[str, Any]]:
    return run_read(
        state.db,
        lambda s: [
            schedules.view(s, x, lang=lang, settings=state.settings)
            for x in schedules.list_schedules(s, customer_id=user.customer_id)
        ],
    )


def get_schedule(
    *, state: AppState, user: CurrentUser, schedule_id: str, lang: str
) -> dict[str, Any]:
    return run_read(
        state.db,
        lambda s: schedules.view(
            s,
            schedules.get(s, customer_id=user.customer_id, schedule_id=schedule_id),
            lang=lang,
            settings=state.settings,
            with_runs=True,
        ),
    )
