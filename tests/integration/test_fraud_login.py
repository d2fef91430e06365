"""The login rules on SQLite and PostgreSQL (issue 7 §4): many logins for many users from
one public IP are refused (credential stuffing); fresh sign-ups crowding one IP are asked
for a code (fake registrations); a private address is nobody's IP and counts nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from factories import DEFAULT_PASSWORD, make_person
from factories.bank import credential_of, replaced_credential
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.identity import service as identity
from wangyin.identity.service import LoginOutcome
from wangyin.security.audit import Client
from wangyin.uow import run_write

SETTINGS = Settings(database_url="sqlite://")


def _login(db: Database, username: str, ip: str, at: object) -> LoginOutcome | str:
    def action(s: Session) -> LoginOutcome:
        return identity.login(
            s,
            login=username,
            password=DEFAULT_PASSWORD,
            client=Client(ip=ip),
            at=at,  # type: ignore[arg-type]
            settings=SETTINGS,
            device_credential=credential_of(username),
        )

    try:
        outcome = run_write(db, action)
    except DomainError as refusal:
        return refusal.code
    if outcome.device_credential:
        replaced_credential(credential_of(username), outcome.device_credential)
    return outcome


def _people(db: Database, at: object, n: int) -> list[str]:
    return run_write(
        db,
        lambda s: [make_person(s, at=at).user.username for _ in range(n)],  # type: ignore[arg-type]
    )


def test_credential_stuffing_from_one_ip_is_refused(db: Database, clock: FrozenClock) -> None:
    # Sign-ups of last week: no fake-registration pattern, only the stuffing.
    names = _people(db, clock.now() - timedelta(days=7), 5)
    outcomes = []
    for _ in range(4):
        for name in names:
            clock.advance(seconds=5)
            found = _login(db, name, "1.2.3.4", clock.now())
            outcomes.append(found if isinstance(found, str) else "ok")
    assert outcomes[:19] == ["ok"] * 19
    assert outcomes[19] == "operation_refused"
    # Another IP, and the same IP after its window, are not refused.
    assert not isinstance(_login(db, names[0], "5.6.7.8", clock.now()), str)
    clock.advance(minutes=11)
    assert not isinstance(_login(db, names[0], "1.2.3.4", clock.now()), str)


def test_fresh_sign_ups_crowding_one_ip_are_asked_for_a_code(
    db: Database, clock: FrozenClock
) -> None:
    names = _people(db, clock.now() - timedelta(hours=2), 3)
    first = _login(db, names[0], "1.2.3.4", clock.now())
    second = _login(db, names[1], "1.2.3.4", clock.now())
    third = _login(db, names[2], "1.2.3.4", clock.now())
    assert isinstance(first, LoginOutcome) and first.session is not None
    assert isinstance(second, LoginOutcome) and second.session is not None
    assert isinstance(third, LoginOutcome) and third.reasons == ("risk",)


def test_a_private_address_counts_nothing(db: Database, clock: FrozenClock) -> None:
    names = _people(db, clock.now() - timedelta(hours=2), 5)
    for _ in range(5):
        for name in names:
            clock.advance(seconds=1)
            found = _login(db, name, "10.0.0.8", clock.now())
            assert isinstance(found, LoginOutcome) and found.session is not None


def test_a_login_from_another_country_than_the_last_asks_a_code(
    db: Database, clock: FrozenClock
) -> None:
    """114.114.114.114 is allocated in China, 8.8.8.8 in the United States (iptocc's
    offline registry data): the second login, from another country, is stepped up."""
    name = _people(db, clock.now() - timedelta(days=30), 1)[0]
    home = _login(db, name, "114.114.114.114", clock.now())
    assert isinstance(home, LoginOutcome) and home.session is not None
    clock.advance(hours=1)
    abroad = _login(db, name, "8.8.8.8", clock.now())
    assert isinstance(abroad, LoginOutcome) and abroad.reasons == ("risk",)
    assert abroad.session is None
    clock.advance(hours=1)
    again = _login(db, name, "114.114.114.115", clock.now())  # home again: no question
    assert isinstance(again, LoginOutcome) and again.session is not None
