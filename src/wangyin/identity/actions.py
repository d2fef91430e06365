"""Use cases of identity (registration, login, codes, resets, password changes), shared
by the JSON API and the pages.

Each is one transaction that decides and counts together: a wrong code, ID number or
password is counted under the row locks of the transaction that refuses it, and the
refusal commits that count (`DomainError.keep`, ARCHITECTURE rule 9, issue 11 #2/#3).
"""

from __future__ import annotations

from wangyin.identity import service as identity
from wangyin.identity.models import Registration, User
from wangyin.identity.service import CurrentUser, LoginOutcome
from wangyin.runtime import AppState
from wangyin.security import ratelimit
from wangyin.security.audit import Client
from wangyin.uow import run_write


def password_login(
    *, state: AppState, login: str, password: str, client: Client, device_credential: str = ""
) -> LoginOutcome:
    """One transaction: the per-login-name limit, the lock, the password and its counting,
    the device credential checked and replaced (`identity.login`)."""
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: identity.login(
            s,
            login=login,
            password=password,
            client=client,
            at=now,
            settings=state.settings,
            device_credential=device_credential,
        ),
    )


def send_login_code(*, state: AppState, challenge_id: str, channel: str, client: Client) -> None:
    """One transaction: the challenge's customer, their code limit counted, the code sent
    (a send refused still counts)."""
    now = state.clock.now()
    run_write(
        state.db,
        lambda s: ratelimit.count_then(
            s,
            user_id=identity.challenge_user_id(s, challenge_id=challenge_id),
            action="code",
            at=now,
            settings=state.settings,
            then=lambda: identity.send_challenge_code(
                s,
                challenge_id=challenge_id,
                channel=channel,
                client=client,
                at=now,
                settings=state.settings,
            ),
        ),
    )


def verify_login_code(
    *, state: AppState, challenge_id: str, code: str, id_number: str | None, client: Client
) -> LoginOutcome:
    now = state.clock.now()
    return run_write(
        state.db,
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


def start_password_reset(
    *, state: AppState, id_number: str, card_number: str, channel: str, client: Client
) -> str:
    """Forgot password: ID number and debit card, then a code to the registered phone."""
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: identity.start_password_reset(
            s,
            id_number=id_number,
            card_number=card_number,
            client=client,
            at=now,
            settings=state.settings,
            channel=channel,
        ),
    )


def reset_password(
    *, state: AppState, challenge_id: str, code: str, new_password: str, client: Client
) -> None:
    now = state.clock.now()
    run_write(
        state.db,
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


def change_password(
    *, state: AppState, user: CurrentUser, old_password: str, new_password: str, client: Client
) -> None:
    """Change the login password; a wrong current one counts as a failed login, in the
    same transaction (`identity.change_password`, issue 11 #4)."""
    now = state.clock.now()
    run_write(
        state.db,
        lambda s: identity.change_password(
            s,
            user_id=user.user_id,
            old_password=old_password,
            new_password=new_password,
            keep_session_id=user.session_id,
            at=now,
            settings=state.settings,
            client=client,
        ),
    )


def start_registration(
    *, state: AppState, fields: dict[str, str], channel: str, client: Client
) -> Registration:
    """Check the applicant and text a code to the reserved mobile; no user yet."""
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: identity.start_registration(
            s, **fields, at=now, settings=state.settings, client=client, channel=channel
        ),
    )


def send_registration_code(
    *, state: AppState, registration_id: str, channel: str, client: Client
) -> None:
    now = state.clock.now()
    run_write(
        state.db,
        lambda s: identity.send_registration_code(
            s,
            registration_id=registration_id,
            channel=channel,
            at=now,
            settings=state.settings,
            client=client,
        ),
    )


def finish_registration(
    *, state: AppState, registration_id: str, code: str, client: Client
) -> User:
    """The code creates the user; a wrong one is counted in the same transaction."""
    now = state.clock.now()
    return run_write(
        state.db,
        lambda s: identity.finish_registration(
            s,
            registration_id=registration_id,
            code=code,
            at=now,
            settings=state.settings,
            client=client,
        ),
    )
