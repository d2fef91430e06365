"""Use cases of batch transfers, shared by the JSON API and the pages: one transaction
each. The confirmation is a money POST (`payments.actions.guarded`: session,
Idempotency-Key, first answer stored, refusals audited with their counted tries)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from wangyin.batches import service as batches
from wangyin.batches.service import LineIn
from wangyin.identity.service import Caller, CurrentUser, require_transfers_allowed
from wangyin.payments.actions import Answer, counted_code, guarded
from wangyin.runtime import AppState
from wangyin.security.audit import Client
from wangyin.uow import run_read, run_write


def create(
    *,
    state: AppState,
    user: CurrentUser,
    client: Client,
    from_account_id: str,
    lines: list[LineIn] | None = None,
    data: bytes | None = None,
    filename: str = "",
) -> dict[str, Any]:
    """A draft batch from typed lines or a file (read before the transaction starts)."""
    require_transfers_allowed(user)
    if data is not None:
        lines = batches.read_file(data)
    now = state.clock.now()

    def act(s: Session) -> dict[str, Any]:
        batch = batches.create(
            s,
            customer_id=user.customer_id,
            user_id=user.user_id,
            actor=user.user_public_id,
            from_account_id=from_account_id,
            lines=lines or [],
            filename=filename,
            at=now,
            client=client,
        )
        return batches.view(s, batch, lang=client.language, settings=state.settings)

    return run_write(state.db, act)


def send_code(
    *, state: AppState, user: CurrentUser, batch_id: str, channel: str, client: Client
) -> None:
    counted_code(
        state=state,
        user=user,
        send=lambda s, at: batches.send_code(
            s,
            customer_id=user.customer_id,
            batch_id=batch_id,
            channel=channel,
            client=client,
            at=at,
            settings=state.settings,
        ),
    )


def confirm(
    *,
    state: AppState,
    caller: Caller,
    key: str | None,
    batch_id: str,
    key_digest: str | None,
    transaction_password: str | None,
    code: str | None,
) -> Answer:
    now = state.clock.now()
    lang = caller.client.language

    def execute(s: Session, user: CurrentUser, _own: Any) -> tuple[int, dict[str, Any]]:
        batch = batches.confirm(
            s,
            customer_id=user.customer_id,
            actor=user.user_public_id,
            batch_id=batch_id,
            key_digest=key_digest,
            transaction_password=transaction_password,
            code=code,
            at=now,
            settings=state.settings,
            client=caller.client,
        )
        return 200, batches.view(s, batch, lang=lang, settings=state.settings, with_lines=False)

    return guarded(
        state,
        caller=caller,
        key=key,
        request={
            "op": "batch.confirm",
            "id": batch_id,
            "key_digest": key_digest,
            "factors": bool(transaction_password and code),
        },
        details={"step": "batch_confirm", "batch": batch_id[:40]},
        execute=execute,
    )


def cancel(*, state: AppState, user: CurrentUser, client: Client, batch_id: str) -> dict[str, Any]:
    now = state.clock.now()

    def act(s: Session) -> dict[str, Any]:
        batch = batches.cancel(
            s,
            customer_id=user.customer_id,
            actor=user.user_public_id,
            batch_id=batch_id,
            at=now,
            client=client,
        )
        return batches.view(s, batch, lang=client.language, settings=state.settings)

    return run_write(state.db, act)


def get_batch(
    *, state: AppState, user: CurrentUser, batch_id: str, lang: str, with_lines: bool = True
) -> dict[str, Any]:
    return run_read(
        state.db,
        lambda s: batches.view(
            s,
            batches.get(s, customer_id=user.customer_id, batch_id=batch_id),
            lang=lang,
            settings=state.settings,
            with_lines=with_lines,
        ),
    )


def list_batches(*, state: AppState, user: CurrentUser, lang: str) -> list[dict[str, Any]]:
    return run_read(
        state.db,
        lambda s: [
            batches.view(s, b, lang=lang, settings=state.settings, with_lines=False)
            for b in batches.list_batches(s, customer_id=user.customer_id)
        ],
    )


def result_file(*, state: AppState, user: CurrentUser, batch_id: str, lang: str) -> bytes:
    return run_read(
        state.db,
        lambda s: batches.result_csv(
            s, batches.get(s, customer_id=user.customer_id, batch_id=batch_id), lang=lang
        ),
    )
