"""Use cases of the payee book, shared by the JSON API and the pages: one transaction each."""

from __future__ import annotations

from typing import Any

from wangyin.errors import DomainError
from wangyin.identity.service import CurrentUser
from wangyin.payees import service as payees
from wangyin.payees.service import PayeeView, RecentPayee
from wangyin.payments import service as payments
from wangyin.runtime import AppState
from wangyin.security.audit import Client
from wangyin.uow import run_read, run_write


def list_payees(*, state: AppState, user: CurrentUser, query: str = "") -> list[PayeeView]:
    return run_read(
        state.db, lambda s: payees.list_payees(s, customer_id=user.customer_id, query=query)
    )


def recent_payees(*, state: AppState, user: CurrentUser) -> list[RecentPayee]:
    return run_read(state.db, lambda s: payees.recent_payees(s, customer_id=user.customer_id))


def get_payee(*, state: AppState, user: CurrentUser, payee_id: str) -> PayeeView:
    return run_read(
        state.db,
        lambda s: payees.get_payee(s, customer_id=user.customer_id, payee_id=payee_id),
    )


def add_payee(
    *,
    state: AppState,
    user: CurrentUser,
    client: Client,
    name: str,
    account_number: str,
    nickname: str = "",
    limit: str | None = None,
) -> PayeeView:
    limit_minor = payees.parse_limit(limit)  # refused before the transaction starts
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: payees.add_payee(
            s,
            customer_id=user.customer_id,
            actor=user.user_public_id,
            name=name,
            number=account_number,
            nickname=nickname,
            limit_minor=limit_minor,
            at=now,
            client=client,
        ),
    )


def save_from_transfer(
    *, state: AppState, user: CurrentUser, client: Client, transfer_id: str, nickname: str = ""
) -> PayeeView:
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: payees.save_from_transfer(
            s,
            customer_id=user.customer_id,
            actor=user.user_public_id,
            transfer_id=transfer_id,
            nickname=nickname,
            at=now,
            client=client,
        ),
    )


def update_payee(
    *,
    state: AppState,
    user: CurrentUser,
    client: Client,
    payee_id: str,
    nickname: str,
    limit: str | None,
) -> PayeeView:
    limit_minor = payees.parse_limit(limit)
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: payees.update_payee(
            s,
            customer_id=user.customer_id,
            actor=user.user_public_id,
            payee_id=payee_id,
            nickname=nickname,
            limit_minor=limit_minor,
            at=now,
            client=client,
        ),
    )


def remove_payee(*, state: AppState, user: CurrentUser, client: Client, payee_id: str) -> None:
    now = state.clock.now()

    def action(s: Any) -> None:
        payees.remove_payee(
            s,
            customer_id=user.customer_id,
            actor=user.user_public_id,
            payee_id=payee_id,
            at=now,
            client=client,
        )

    run_write(state.db, action)


def transfer_prefill(
    *, state: AppState, user: CurrentUser, payee_id: str = "", again: str = ""
) -> dict[str, str]:
    """The transfer form's payee fields for "pay this payee" (`payee_id`) or "transfer
    again" (`again`: one of the customer's transfers, 再转一笔; its paying account too, never
    its amount). Someone else's id fills nothing."""

    def read(s: Any) -> dict[str, str]:
        if payee_id:
            try:
                payee = payees.get_payee(s, customer_id=user.customer_id, payee_id=payee_id)
            except DomainError:
                return {}
            return {"to_account_number": payee.account_number, "payee_name": payee.name}
        if again:
            transfer = payments.find_transfer(s, customer_id=user.customer_id, transfer_id=again)
            if transfer is None:
                return {}
            return {
                "from_account_id": transfer.from_public_id,
                "to_account_number": transfer.to_number,
                "payee_name": transfer.payee_name,
            }
        return {}

    return run_read(state.db, read) if payee_id or again else {}
