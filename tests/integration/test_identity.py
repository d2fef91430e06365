"""Registration, login, sessions and password changes on both databases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from factories import DEFAULT_PASSWORD, card_of, make_account, make_customer, make_user
from factories.transfers import latest_code
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.identity import service as identity
from wangyin.uow import run_read, run_write

NEW_PASSWORD = "Xin-Mima-2026"


@dataclass
class Applicant:
    name: str
    id_number: str
    mobile: str
    card_number: str

    def form(self, **changes: str) -> dict[str, str]:
        values = {
            "name": self.name,
            "id_number": self.id_number,
            "mobile": self.mobile,
            "card_number": self.card_number,
            "username": "newuser01",
            "password": NEW_PASSWORD,
            "transaction_password": "582936",
        }
        values.update(changes)
        return values


def applicant(db: Database, clock: FrozenClock) -> Applicant:
    def build(s: Session) -> Applicant:
        c = make_customer(s, at=clock.now(), name="陈静")
        acct = make_account(s, c, at=clock.now(), with_card=True)
        return Applicant(c.name, c.id_number, c.mobile, card_of(s, acct).number)

    return run_write(db, build)


def register(  # type: ignore[no-untyped-def]
    db: Database, clock: FrozenClock, form: dict[str, str], settings: Settings
):
    """Both steps, as the customer takes them: the application, then the code texted to
    the reserved mobile (read from the outbox)."""
    registration = run_write(
        db, lambda s: identity.start_registration(s, **form, at=clock.now(), settings=settings)
    )
    code = run_read(db, lambda s: latest_code(s, form["mobile"].removeprefix("+86 ")))
    return run_write(
        db,
        lambda s: identity.finish_registration(
            s, registration_id=registration.public_id, code=code, at=clock.now(), settings=settings
        ),
    )


def refusal(db: Database, clock: FrozenClock, form: dict[str, str], settings: Settings) -> str:
    with pytest.raises(DomainError) as info:
        register(db, clock, form, settings)
    return info.value.code


def test_register_creates_a_public_edition_user(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    who = applicant(db, clock)
    spaced = " ".join(who.card_number[i : i + 4] for i in range(0, len(who.card_number), 4))
    user = register(db, clock, who.form(card_number=spaced, mobile="+86 " + who.mobile), settings)
    assert user.edition == "public"
    assert user.password_hash != NEW_PASSWORD and user.password_hash.startswith("$argon2id$")


def test_register_refuses_cards_that_are_not_the_applicants(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    who = applicant(db, clock)
    other = applicant(db, clock)
    # Every mismatch gives the same answer, so registration cannot confirm whose card it is.
    assert refusal(db, clock, who.form(card_number=other.card_number), settings) == "card_not_found"
    assert refusal(db, clock, who.form(name="陈晶"), settings) == "card_not_found"
    assert refusal(db, clock, who.form(mobile="13900000000"), settings) == "card_not_found"
    unknown = "622688000000000000"
    from wangyin.identity.validators import luhn_check_digit

    unknown_card = unknown + luhn_check_digit(unknown)
    assert refusal(db, clock, who.form(card_number=unknown_card), settings) == "card_not_found"
    assert refusal(db, clock, who.form(card_number="6226880000000000001"), settings) in {
        "invalid_card_number",
        "card_not_found",
    }


def test_register_refuses_twice_and_taken_usernames(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    who = applicant(db, clock)
    register(db, clock, who.form(), settings)
    assert refusal(db, clock, who.form(username="another1"), settings) == "already_registered"
    other = applicant(db, clock)
    assert refusal(db, clock, other.form(username="newuser01"), settings) == "username_taken"


def test_register_applies_the_password_policy(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    who = applicant(db, clock)
    assert refusal(db, clock, who.form(password="12345678"), settings) == "weak_password"
    assert refusal(db, clock, who.form(password="Ab-" + who.mobile), settings) == "weak_password"
    assert (
        refusal(db, clock, who.form(id_number="110105194912310021"), settings)
        == "invalid_id_number"
    )


@pytest.fixture
def member(db: Database, clock: FrozenClock) -> dict[str, object]:
    def build(s: Session) -> dict[str, object]:
        c = make_customer(s, at=clock.now(), mobile="13912340000")
        u = make_user(s, c, at=clock.now(), username="loginuser")
        return {"user_id": u.id, "mobile": c.mobile}

    return run_write(db, build)


def login(db: Database, clock: FrozenClock, settings: Settings, who: str, password: str) -> str:
    def action(s: Session) -> str:
        user = identity.authenticate(s, login=who, password=password)
        started = identity.start_session(
            s,
            user=user,
            client_type="api",
            ip="127.0.0.1",
            user_agent="pytest",
            at=clock.now(),
            settings=settings,
        )
        return started.token

    return run_write(db, action)


def resolve(db: Database, clock: FrozenClock, settings: Settings, token: str):  # type: ignore[no-untyped-def]
    return run_read(
        db, lambda s: identity.resolve_session(s, token=token, at=clock.now(), settings=settings)
    )


def test_login_by_username_or_mobile(
    db: Database, clock: FrozenClock, settings: Settings, member: dict[str, object]
) -> None:
    by_name = login(db, clock, settings, "loginuser", DEFAULT_PASSWORD)
    by_mobile = login(db, clock, settings, str(member["mobile"]), DEFAULT_PASSWORD)
    assert resolve(db, clock, settings, by_name).user_id == member["user_id"]
    assert resolve(db, clock, settings, by_mobile).user_id == member["user_id"]
    for who, password in [("loginuser", "Wrong-Pass-1"), ("nobody99", DEFAULT_PASSWORD)]:
        with pytest.raises(DomainError) as info:
            login(db, clock, settings, who, password)
        assert info.value.code == "invalid_credentials"  # same answer for both


def test_session_idle_timeout(
    db: Database, clock: FrozenClock, settings: Settings, member: dict[str, object]
) -> None:
    token = login(db, clock, settings, "loginuser", DEFAULT_PASSWORD)
    clock.advance(minutes=settings.session_idle_minutes)
    assert resolve(db, clock, settings, token) is not None  # exactly at the limit: still alive
    clock.advance(seconds=1)
    assert resolve(db, clock, settings, token) is None


def test_activity_keeps_a_session_alive_until_the_absolute_limit(
    db: Database, clock: FrozenClock, settings: Settings, member: dict[str, object]
) -> None:
    start = clock.now()
    token = login(db, clock, settings, "loginuser", DEFAULT_PASSWORD)
    step = timedelta(minutes=settings.session_idle_minutes - 1)
    while clock.now() + step < start + timedelta(hours=settings.session_absolute_hours):
        clock.advance(seconds=step.total_seconds())
        current = resolve(db, clock, settings, token)
        assert current is not None
        assert current.touch_due  # a request now records activity
        run_write(
            db,
            lambda s, c=current: identity.touch_session(s, session_id=c.session_id, at=clock.now()),
        )
    clock.set(start + timedelta(hours=settings.session_absolute_hours))
    assert resolve(db, clock, settings, token) is None


def test_logout_ends_the_session(
    db: Database, clock: FrozenClock, settings: Settings, member: dict[str, object]
) -> None:
    token = login(db, clock, settings, "loginuser", DEFAULT_PASSWORD)
    run_write(db, lambda s: identity.end_session(s, token=token, at=clock.now()))
    assert resolve(db, clock, settings, token) is None


def test_change_password_ends_other_sessions_and_retires_the_old_password(
    db: Database, clock: FrozenClock, settings: Settings, member: dict[str, object]
) -> None:
    here = login(db, clock, settings, "loginuser", DEFAULT_PASSWORD)
    elsewhere = login(db, clock, settings, "loginuser", DEFAULT_PASSWORD)
    current = resolve(db, clock, settings, here)

    def change(old: str, new: str) -> None:
        run_write(
            db,
            lambda s: identity.change_password(
                s,
                user_id=current.user_id,
                old_password=old,
                new_password=new,
                keep_session_id=current.session_id,
                at=clock.now(),
                settings=settings,
            ),
        )

    with pytest.raises(DomainError) as info:
        change("Not-The-Password-1", NEW_PASSWORD)
    assert info.value.code == "wrong_password"
    with pytest.raises(DomainError) as info:
        change(DEFAULT_PASSWORD, DEFAULT_PASSWORD)
    assert info.value.code == "password_reused"
    assert resolve(db, clock, settings, elsewhere) is not None  # refusals changed nothing

    change(DEFAULT_PASSWORD, NEW_PASSWORD)
    assert resolve(db, clock, settings, here) is not None
    assert resolve(db, clock, settings, elsewhere) is None
    with pytest.raises(DomainError) as info:
        login(db, clock, settings, "loginuser", DEFAULT_PASSWORD)
    assert info.value.code == "invalid_credentials"
    assert login(db, clock, settings, "loginuser", NEW_PASSWORD)


def test_upgrade_to_professional(
    db: Database, clock: FrozenClock, member: dict[str, object]
) -> None:
    user = run_write(
        db, lambda s: identity.upgrade_to_professional(s, login="loginuser", at=clock.now())
    )
    assert user.edition == "professional"
    with pytest.raises(DomainError) as info:
        run_write(db, lambda s: identity.upgrade_to_professional(s, login="ghost", at=clock.now()))
    assert info.value.code == "customer_not_found"
