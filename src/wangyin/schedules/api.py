"""JSON API of scheduled (预约) and recurring (定期) transfers: give -> code -> confirm
(Idempotency-Key on both money POSTs); list, read with its runs, pause, resume, cancel;
edit = a new instruction that replaces the old one once confirmed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from pydantic import ValidationError

from wangyin.errors import DomainError
from wangyin.payments.actions import Answer
from wangyin.payments.api import IdempotencyKey, opened_factors, respond
from wangyin.schedules import actions
from wangyin.schedules.schemas import ScheduleCodeIn, ScheduleConfirmIn, ScheduleIn, ScheduleOut
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

    return respond(request, run)


@router.post(
    "/schedules/{schedule_id}/edit",
    status_code=201,
    response_model=ScheduleOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ScheduleIn"}}
            },
        }
    },
)
def edit(
    schedule_id: str,
    request: Request,
    user: ApiUser,
    state: State,
    body: Annotated[dict[str, Any] | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A changed instruction (`replaces` the old one): the old one runs on until the new
    one is confirmed. Another customer's id is 404 whatever the body."""
    actions.get_schedule(state=state, user=user, schedule_id=schedule_id, lang="zh")
    try:
        changed = ScheduleIn.model_validate(body or {})
    except ValidationError:
        raise DomainError("validation_error") from None

    def run() -> Answer:
        return actions.give(
            state=state,
            caller=caller_of(request),
            key=idempotency_key,
            body=changed,
            replaces=schedule_id,
        )

    return respond(request, run)


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
    transaction_password, code = opened_factors(request, state, body)

    def run() -> Answer:
        return actions.confirm(
            state=state,
            caller=caller_of(request),
            key=idempotency_key,
            schedule_id=schedule_id,
            key_digest=body.key_digest,
            transaction_password=transaction_password,
            code=code,
        )

    return respond(request, run)


@router.get("/schedules", response_model=list[ScheduleOut])
def list_schedules(request: Request, user: ApiUser, state: State) -> list[dict[str, Any]]:
    return actions.list_schedules(state=state, user=user, lang=client_of(request).language)


@router.get("/schedules/{schedule_id}", response_model=ScheduleOut)
def get_schedule(schedule_id: str, request: Request, user: ApiUser, state: State) -> dict[str, Any]:
    """The instruction with the history of its runs (and of the ones it replaced)."""
    return actions.get_schedule(
        state=state, user=user, schedule_id=schedule_id, lang=client_of(request).language
    )


def _change(request: Request, user: Any, state: Any, schedule_id: str, action: str) -> Any:
    return actions.change_state(
        state=state,
        user=user,
        client=client_of(request),
        schedule_id=schedule_id,
        action=action,
    )


@router.post("/schedules/{schedule_id}/pause", response_model=ScheduleOut)
def pause(schedule_id: str, request: Request, user: ApiUser, state: State) -> dict[str, Any]:
    """Runs stop until resumed."""
    return _change(request, user, state, schedule_id, "pause")  # type: ignore[no-any-return]


@router.post("/schedules/{schedule_id}/resume", response_model=ScheduleOut)
def resume(schedule_id: str, request: Request, user: ApiUser, state: State) -> dict[str, Any]:
    """Runs go on from the next date after now; dates missed while paused are not made."""
    return _change(request, user, state, schedule_id, "resume")  # type: ignore[no-any-return]


@router.post("/schedules/{schedule_id}/cancel", response_model=ScheduleOut)
def cancel(schedule_id: str, request: Request, user: ApiUser, state: State) -> dict[str, Any]:
    return _change(request, user, state, schedule_id, "cancel")  # type: ignore[no-any-return]
