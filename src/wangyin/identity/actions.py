"""Use cases of identity (login, codes, resets), shared by the JSON API and the pages.

Some steps still count a failure (a wrong password, a wrong code) in a second transaction
after the first rolled back; the security issue (11 #2/#3) moves each into the transaction
that decides it, as the transfer confirmation now does."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session

from wangyin.errors import DomainError
from wangyin.identity import otp
from wangyin.identity import service as identity
from wangyin.identity.service import LoginOutcome
from wangyin.runtime import AppState
from wangyin.security import ratelimit
from wangyin.security.audit import Client
from wangyin.uow import run_read, run_write

WRONG_CODE = {"otp_invalid", "wrong_id_number"}
T = TypeVar("T")


def limit_account(state: AppState, *, user_id: int | None, action: ratelimit.AccountAction) -> None:
    """Per-customer rate limit (logins, code requests), counted in its own transaction so
    a refused or failed attempt still counts."""
    if user_id is None:
        return
    now = state.clock.now()
    run_write(
        state.db,
        lambda s: ratelimit.limit_account(
            s,
            user_id=user_id,
            action=action,
            at=now,
            settings=state.settings,
        ),
    )


def _user_id(state: AppState, login: str) -> int | None:
    def find(s: Session) -> int | None:
        user = identity.find_user(s, login=login)
        return None if user is None else user.id

    return run_read(state.db, find)


def password_login(*, state: AppState, login: str, password: str, client: Client) -> LoginOutcome:
    limit_account(state, user_id=_user_id(state, login), action="login")
    now = state.clock.now()
    try:
        return run_write(
            state.db,
            lambda s: identity.login(
                s, login=login, password=password, client=client, at=now, settings=state.settings
            ),
        )
    except DomainError as exc:
        if exc.code == "invalid_credentials":
            run_write(
                state.db,
                lambda s: identity.record_login_failure(
                    s, login=login, client=client, at=now, settings=state.settings
                ),
            )
        elif exc.code in ("login_locked", "customer_inactive"):
            # The right password on a locked or suspended login: an authentication
            # decision like any other, so it is logged (ASVS 16.3.1).
            reason = exc.code
            run_write(
                state.db,
                lambda s: identity.record_login_refusal(
                    s, login=login, reason=reason, client=client, at=now
                ),
            )
        raise


def send_login_code(*, state: AppState, challenge_id: str, channel: str, client: Client) -> None:
    found = run_read(state.db, lambda s: identity.challenge_user_id(s, challenge_id=challenge_id))
    limit_account(state, user_id=found[0] if found else None, action="code")
    now = state.clock.now()
    run_write(
        state.db,
        lambda s: identity.send_challenge_code(
            s,
            challenge_id=challenge_id,
            channel=channel,
            client=client,
            at=now,
            settings=state.settings,
        ),
    )


def count_wrong_challenge_code(state: AppState, challenge_id: str, client: Client) -> None:
    now = state.clock.now()

    def action(s: Session) -> None:
        found = identity.challenge_user_id(s, challenge_id=challenge_id)
        if found is None:
            return
        user_id, purpose = found
        otp.record_wrong_code(
            s,
            user_id=user_id,
            purpose=purpose,
            binding=challenge_id,
            settings=state.settings,
            at=now,
            client=client,
        )

    run_write(state.db, action)


def _counting_wrong_codes(
    state: AppState, challenge_id: str, client: Client, action: Callable[[Session], T]
) -> T:
    """Run a challenge step; a wrong code or ID number is counted against the code."""
    try:
        return run_write(state.db, action)
    except DomainError as exc:
        if exc.code in WRONG_CODE:
            count_wrong_challenge_code(state, challenge_id, client)
        raise


def verify_login_code(
    *, state: AppState, challenge_id: str, code: str, id_number: str | None, client: Client
) -> LoginOutcome:
    now = state.clock.now()
    return _counting_wrong_codes(
        state,
        challenge_id,
        client,
        lambda s: identity.complete_challenge(
            s,
            challenge_id=challenge_id,
            code=code,
            id_number=id_number,
            client=client,
            at=now,
            settings=state.settings,
        ),
    )


def reset_password(
    *, state: AppState, challenge_id: str, code: str, new_password: str, client: Client
) -> None:
    now = state.clock.now()
    _counting_wrong_codes(
        state,
        challenge_id,
        client,
        lambda s: identity.finish_password_reset(
            s,
            challenge_id=challenge_id,
            code=code,
            new_password=new_password,
            client=client,
            at=now,
            settings=state.settings,
        ),
    )
