"""JSON API of scheduled (预约) and recurring (定期) transfers: give -> code -> confirm
(Idempotency-Key on both money POSTs); list, read with its runs, pause, resume, cancel;
edit = a new instruction that replaces the old one once confirmed."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response

from wangyin.payments.actions import Answer
from wangyin.payments.api import IdempotencyKey, _respond
from wangyin.schedules import actions
from wangyin.schedules.schemas import ScheduleCodeIn, ScheduleConfirmIn, ScheduleIn, ScheduleOut
from wangyin.security.channel import reveal_many
from wangyin.web.context import ApiUser, State, caller_of, client_of

router = APIRouter(tags=["scheduled transfers"])


@router.post("/schedules", status_code=201, response_model=ScheduleOut)
def give(
    body: ScheduleIn, request: Request, state: State, idempotency_key: IdempotencyKey = None
) -> Response:
    """Set up a scheduled or recurring transfer; it runs once confirmed with the
    transaction password and a code bound to its `key_digest`."""

    def run() -> Answer:
        return actions.give(state=state, caller=caller_of(request), key=idempotency_key, body=body)

    return _respond(request, run)


@router.post("/schedules/{schedule_id}/edit", status_code=201, response_model=ScheduleOut)
def edit(
    schedule_id: str,
    body: ScheduleIn,
    request: Request,
    state: State,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A changed instruction (`replaces` the old one): the old one runs on until the new
    one is confirmed."""

    def run() -> Answer:
        return actions.give(
            state=state,
            caller=caller_of(request),
            key=idempotency_key,
            body=body,
            replaces=schedule_id,
        )

    return _respond(request, run)


@router.post("/schedules/{schedule_id}/code", status_code=204)
def send_code(
    schedule_id: str,
    request: Request,
    user: ApiUser,
    state: State,
    body: ScheduleCodeIn | None = None,
) -> Response:
    actions.send_code(
        state=state,
        user=user,
        schedule_id=schedule_id,
        channel=(body or ScheduleCodeIn()).channel,
        client=client_of(request),
    )
    return Response(status_code=204)


@router.post("/schedules/{schedule_id}/confirm", response_model=ScheduleOut)
def confirm(
    schedule_id: str,
    request: Request,
    state: State,
    body: ScheduleConfirmIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    body = body or ScheduleConfirmIn()
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
            schedule_id=schedule_id,
            key_digest=body.key_digest,
            transaction_password=clear["transaction_password"] or None,
            code=clear["code"] or None,
        )

    return _respond(request, run)


@router.get("/schedules", response_model=list[ScheduleOut])
def list_schedules(request: Request, user: ApiUser, state: State) -> list[dict[str, Any]]:
    return actions.list_schedules(state=state, user=user, lang=client_of(request).language)


@router.get("/schedules/{schedule_id}", response_model=ScheduleOut)
def get_schedule(schedule_id: str, request: Request, user: ApiUser, state: State) -> dict[str, Any]:
    """The instruction with the history of its runs (and of the ones it replaced)."""
    return actions.get_schedule(
        state=state, user=user, schedule_id=schedule_id, lang=client_of(request).language
    )


@router.post("/schedules/{schedule_id}/{action}", response_model=ScheduleOut)
def change_state(
    schedule_id: str,
    action: Literal["pause", "resume", "cancel"],
    request: Request,
    user: ApiUser,
    state: State,
) -> dict[str, Any]:
    return actions.change_state(
        state=state,
        user=user,
        client=client_of(request),
        schedule_id=schedule_id,
        action=action,
    )
