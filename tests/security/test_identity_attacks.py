"""Attacks on logins, codes, resets, registration and the security center (issue 11 #2 for
codes and passwords, #3, #4, #6, #12, #13, #16), and the identity rules whose tests would
not have noticed them breaking. Each test sends what an attacker sends and checks the
bank's answer and that nothing else changed.

The concurrency tests drive the use cases (`identity.actions`) from 12 threads at once on
both databases: N concurrent wrong attempts consume N tries, and the (limit+1)-th attempt
is refused whatever it carries.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from factories import DEFAULT_PASSWORD, Person, card_of, make_account, make_customer, make_person
from factories.bank import DEFAULT_PIN, credential_of, device_headers, device_of, new_id_number
from factories.transfers import latest_code
from functional.conftest import _phone_and_id
from security.conftest import Bank, assert_problem, hidden_csrf, prepare
from wangyin.accounts.models import Card
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.identity import actions, otp
from wangyin.identity import service as identity
from wangyin.identity.models import OtpCode, User
from wangyin.identity.validators import luhn_check_digit
from wangyin.notify import service as notify
from wangyin.notify.models import OutboxMessage
from wangyin.runtime import AppState
from wangyin.security import ratelimit
from wangyin.security.audit import Client
from wangyin.security.models import AuditRecord
from wangyin.uow import run_read, run_write

WRONG = "Falsch-Mima-99"
NEW_PASSWORD = "Xin-Mima-2026"
THREADS = 12


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def post_login(bank: Bank, who: str, password: str, device: str | None = None) -> Any:
    return bank.client.post(
        "/api/v1/auth/login",
        json={"login": who, "password": password},
        headers={"X-Device-Id": device} if device is not None else device_headers(who),
    )


def messages(bank: Bank, who: str, purpose: str) -> list[Any]:
    mobile, _ = run_read(bank.db, lambda s: _phone_and_id(s, who))
    sent = run_read(bank.db, lambda s: notify.messages_to(s, phone=mobile, limit=100))
    return [m for m in sent if m.purpose == purpose]


def lock(bank: Bank, who: str = "lina") -> None:
    for _ in range(5):
        assert_problem(post_login(bank, who, WRONG), "invalid_credentials", 401)


def without_instance(response: Any) -> tuple[int, dict[str, Any]]:
    # The request id differs for every request by design (issue 8 §1).
    body = response.json().items()
    return response.status_code, {k: v for k, v in body if k not in ("instance", "request_id")}


def concurrently(count: int, attempt: Callable[[int], object]) -> Counter[str]:
    """Run `attempt(i)` on `count` threads released together; the refusal codes (or "ok")."""
    start = threading.Barrier(count)
    outcomes: list[str] = []
    guard = threading.Lock()

    def run(i: int) -> None:
        start.wait()
        try:
            attempt(i)
            outcome = "ok"
        except DomainError as error:
            outcome = error.code
        except Exception as error:  # reported as an outcome, then asserted
            outcome = f"crash: {error!r}"
        with guard:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(outcomes) == count, outcomes
    return Counter(outcomes)


def client(i: int = 0, device: str = "") -> Client:
    return Client(ip=f"198.51.100.{i + 1}", device_id=device, client_type="api")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A per-IP login limit out of the way: these attacks come from many addresses, and
    the per-login and per-customer limits are what is under test."""
    return settings.model_copy(update={"ratelimit_login_per_ip": 1000})


@pytest.fixture
def state(db: Database, clock: FrozenClock, settings: Settings) -> AppState:
    return AppState(settings=settings, db=db, clock=clock)


@pytest.fixture
def person(db: Database, clock: FrozenClock) -> Person:
    return run_write(db, lambda s: make_person(s, at=clock.now()))


def phone_messages(db: Database, phone: str, purpose: str) -> list[OutboxMessage]:
    sent = run_read(db, lambda s: notify.messages_to(s, phone=phone, limit=200))
    return [m for m in sent if m.purpose == purpose]


# --- #3: a locked login gives one answer, whatever the password -------------------------------


def test_locked_login_answers_login_locked_whatever_the_password(bank: Bank) -> None:
    """Issue 11 #3, 4.3.2-f, ASVS5-6.1.1: while locked, the right password and a wrong one
    get the same 423 `login_locked`, so guessing on cannot recognise the right guess."""
    lock(bank)
    right = post_login(bank, "lina", DEFAULT_PASSWORD)
    other = post_login(bank, "lina", WRONG)
    assert_problem(right, "login_locked", 423)
    assert without_instance(right) == without_instance(other)
    # Guessing on neither lengthens the lock nor texts the customer again.
    assert len(messages(bank, "lina", "login_locked")) == 1


def test_locked_login_does_not_check_the_password_at_all(
    bank: Bank, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11 #3: no Argon2 result is consulted while locked (nor leaked through timing)."""
    lock(bank)
    checked: list[str] = []
    real = identity.verify_password

    def spy(password_hash: str | None, password: str) -> bool:
        checked.append(password)
        return real(password_hash, password)

    monkeypatch.setattr(identity, "verify_password", spy)
    for password in (DEFAULT_PASSWORD, WRONG):
        assert_problem(post_login(bank, "lina", password), "login_locked", 423)
    assert checked == []


def test_login_lock_is_lifted_only_by_time_or_staff(bank: Bank) -> None:
    """Issue 11 #3, 4.3.2-f: the right password during the lock does not lift it; at 30:00
    it lifts by itself. A forgotten-password reset sets a new password but does not lift
    it either (the lock stops guessing; only time or staff end it)."""
    lock(bank)
    for _ in range(3):
        assert_problem(post_login(bank, "lina", DEFAULT_PASSWORD), "login_locked", 423)
    mobile, id_number = run_read(bank.db, lambda s: _phone_and_id(s, "lina"))
    started = bank.client.post(
        "/api/v1/auth/password/reset",
        json={"id_number": id_number, "card_number": bank.b.card_number},
    )
    assert started.status_code == 200, started.text
    finish = bank.client.post(
        "/api/v1/auth/password/reset/finish",
        json={
            "challenge_id": started.json()["challenge_id"],
            "code": bank.last_code(mobile),
            "new_password": NEW_PASSWORD,
        },
    )
    assert finish.status_code == 204, finish.text
    assert_problem(post_login(bank, "lina", NEW_PASSWORD), "login_locked", 423)
    bank.clock.advance(minutes=30)
    assert post_login(bank, "lina", NEW_PASSWORD).json()["status"] == "authenticated"


# --- #2: wrong passwords and codes are counted by the transaction that refuses them -----------


def test_concurrent_wrong_passwords_are_each_counted_and_the_fifth_locks(
    db: Database, clock: FrozenClock, settings: Settings, person: Person
) -> None:
    """Issue 11 #2/#3, ARCHITECTURE rule 9: 12 concurrent wrong passwords: exactly 5 are
    checked (each counted under the user row's lock in its own login transaction), the 5th
    locks, the 7 others are refused as locked; one lock SMS."""
    open_limits = settings.model_copy(update={"ratelimit_login_per_account": 100})
    state = AppState(settings=open_limits, db=db, clock=clock)
    outcomes = concurrently(
        THREADS,
        lambda i: actions.password_login(
            state=state, login=person.username, password=WRONG, client=client(i)
        ),
    )
    assert outcomes == Counter({"invalid_credentials": 5, "login_locked": THREADS - 5})
    user = run_read(db, lambda s: s.get_one(User, person.user.id))
    assert user.locked_until is not None
    assert len(phone_messages(db, person.customer.mobile, "login_locked")) == 1
    failures = run_read(
        db,
        lambda s: s.scalar(
            select(func.count(AuditRecord.id)).where(
                AuditRecord.event == "login",
                AuditRecord.outcome == "failure",
                AuditRecord.actor == person.user.public_id,
            )
        ),
    )
    assert failures == 5


def _login_challenge(state: AppState, person: Person, device: str = "new-phone") -> str:
    """A new-device login challenge whose code was sent; returns the challenge id."""
    outcome = actions.password_login(
        state=state, login=person.username, password=DEFAULT_PASSWORD, client=client(0, device)
    )
    assert outcome.challenge_id is not None
    actions.send_login_code(
        state=state, challenge_id=outcome.challenge_id, channel="sms", client=client(0, device)
    )
    return outcome.challenge_id


def test_a_wrong_login_code_is_counted_by_the_transaction_that_refuses_it(
    state: AppState, person: Person
) -> None:
    """Issue 11 #2: the code's try is spent inside the verifying transaction itself (no
    second transaction that a crash or a race could skip)."""
    challenge = _login_challenge(state, person)
    code = run_read(state.db, lambda s: latest_code(s, person.customer.mobile))
    now = state.clock.now()
    with pytest.raises(DomainError) as info:
        run_write(
            state.db,
            lambda s: identity.complete_challenge(
                s,
                challenge_id=challenge,
                code=wrong(code),
                id_number=person.customer.id_number,
                client=client(0, "new-phone"),
                at=now,
                settings=state.settings,
            ),
        )
    assert info.value.code == "otp_invalid"
    attempts = run_read(state.db, lambda s: s.scalars(select(OtpCode.attempts)).all())
    assert attempts == [1]


def test_concurrent_wrong_login_codes_each_consume_a_try(state: AppState, person: Person) -> None:
    """Issue 11 #2, 4.3.1.3-a: 12 concurrent wrong codes: 3 are checked, 9 refused as too
    many; then even the right code is refused."""
    challenge = _login_challenge(state, person)
    code = run_read(state.db, lambda s: latest_code(s, person.customer.mobile))
    outcomes = concurrently(
        THREADS,
        lambda i: actions.verify_login_code(
            state=state,
            challenge_id=challenge,
            code=wrong(code),
            id_number=person.customer.id_number,
            client=client(i, "new-phone"),
        ),
    )
    assert outcomes == Counter({"otp_invalid": 3, "otp_too_many_attempts": THREADS - 3})
    assert run_read(state.db, lambda s: s.scalars(select(OtpCode.attempts)).all()) == [3]
    with pytest.raises(DomainError) as info:
        actions.verify_login_code(
            state=state,
            challenge_id=challenge,
            code=code,
            id_number=person.customer.id_number,
            client=client(0, "new-phone"),
        )
    assert info.value.code == "otp_too_many_attempts"


def test_concurrent_wrong_id_numbers_on_device_binding_each_consume_a_try(
    state: AppState, person: Person
) -> None:
    """Issue 11 #2, 4.3.2-c: the right code with a wrong ID number counts against the code
    as well, under the same lock: 12 concurrent tries, 3 checked."""
    challenge = _login_challenge(state, person)
    code = run_read(state.db, lambda s: latest_code(s, person.customer.mobile))
    outcomes = concurrently(
        THREADS,
        lambda i: actions.verify_login_code(
            state=state,
            challenge_id=challenge,
            code=code,
            id_number=new_id_number(),
            client=client(i, "new-phone"),
        ),
    )
    assert outcomes == Counter({"wrong_id_number": 3, "otp_too_many_attempts": THREADS - 3})


def test_concurrent_wrong_reset_codes_each_consume_a_try(state: AppState, person: Person) -> None:
    """Issue 11 #2, 5.1.1-c: the reset code's 3 tries hold under 12 concurrent guesses, and
    the password is unchanged."""
    challenge = actions.start_password_reset(
        state=state,
        id_number=person.customer.id_number,
        card_number=person.card_number,
        channel="sms",
        client=client(0),
    )
    code = run_read(state.db, lambda s: latest_code(s, person.customer.mobile))
    outcomes = concurrently(
        THREADS,
        lambda i: actions.reset_password(
            state=state,
            challenge_id=challenge,
            code=wrong(code),
            new_password=NEW_PASSWORD,
            client=client(i),
        ),
    )
    assert outcomes == Counter({"otp_invalid": 3, "otp_too_many_attempts": THREADS - 3})
    with pytest.raises(DomainError) as info:
        actions.reset_password(
            state=state,
            challenge_id=challenge,
            code=code,
            new_password=NEW_PASSWORD,
            client=client(0),
        )
    assert info.value.code == "otp_too_many_attempts"
    outcome = actions.password_login(
        state=state,
        login=person.username,
        password=DEFAULT_PASSWORD,
        client=client(0, device_of(person.username)),
        device_credential=credential_of(person.username),
    )
    assert outcome.session is not None  # the old password still works


# --- #4: a stolen session cannot guess the password through "change password" -----------------


def change_password(bank: Bank, who: str, old: str, new: str = NEW_PASSWORD) -> Any:
    return bank.client.post(
        "/api/v1/auth/password",
        json={"old_password": old, "new_password": new},
        headers=bank.headers[who],
    )


def test_wrong_current_passwords_count_with_the_login_failures(bank: Bank) -> None:
    """Issue 11 #4, 4.3.2-f: two wrong logins and three wrong current passwords at
    "change password" are five consecutive failures: the login locks and the customer is
    texted; from then on the change route also answers `login_locked`, right password or
    not."""
    for _ in range(2):
        assert_problem(post_login(bank, "lina", WRONG), "invalid_credentials", 401)
    for _ in range(3):
        assert_problem(change_password(bank, "lina", WRONG), "wrong_password", 422)
    assert len(messages(bank, "lina", "login_locked")) == 1
    assert_problem(post_login(bank, "lina", DEFAULT_PASSWORD), "login_locked", 423)
    assert_problem(change_password(bank, "lina", DEFAULT_PASSWORD), "login_locked", 423)
    assert_problem(change_password(bank, "lina", WRONG), "login_locked", 423)
    bank.clock.advance(minutes=30)
    fresh = bank.login("lina")
    done = bank.client.post(
        "/api/v1/auth/password",
        json={"old_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        headers=fresh,
    )
    assert done.status_code == 204, done.text


def test_password_change_page_counts_wrong_current_passwords_too(bank: Bank) -> None:
    """Issue 11 #4: the page route is the same use case as the API."""
    from security.conftest import web_login

    csrf = web_login(bank, "lina")
    for _ in range(5):
        page = bank.client.post(
            "/password",
            data={
                "csrf_token": csrf,
                "old_password": WRONG,
                "new_password": NEW_PASSWORD,
                "new_password_again": NEW_PASSWORD,
            },
        )
        assert page.status_code == 422, page.text[:300]
    assert_problem(post_login(bank, "lina", DEFAULT_PASSWORD), "login_locked", 423)


# --- #6: password-reset start is rate-limited and has its own code budget -----------------------


def start_reset(bank: Bank, id_number: str, card: str) -> Any:
    return bank.client.post(
        "/api/v1/auth/password/reset", json={"id_number": id_number, "card_number": card}
    )


def other_card(n: int = 0) -> str:
    """A well-formed debit card number that is not the customer's."""
    digits = f"62220202001122{n:04d}"
    return digits + luhn_check_digit(digits)


def test_reset_start_is_rate_limited_per_ip(bank: Bank) -> None:
    """Issue 11 #6, ASVS5-6.1.1: the reset start (an ID-and-card matching oracle) takes as
    many tries per IP as registration does (10 an hour), API and page together."""
    limit = bank.settings.ratelimit_register_per_ip
    for i in range(limit):
        response = start_reset(bank, new_id_number(), other_card(i))
        assert_problem(response, "card_not_found", 422)
    assert_problem(start_reset(bank, new_id_number(), other_card(99)), "rate_limited", 429)
    assert bank.client.post("/password/forgot", data={}).status_code == 429
    bank.clock.advance(seconds=bank.settings.ratelimit_register_ip_window_seconds)
    assert_problem(start_reset(bank, new_id_number(), other_card(98)), "card_not_found", 422)


def test_concurrent_reset_starts_are_limited_per_id_number(state: AppState, person: Person) -> None:
    """Issue 11 #6: 12 concurrent starts for one ID number from 12 IPs: 5 are looked at,
    the rest refused, whatever card they carry."""
    outcomes = concurrently(
        THREADS,
        lambda i: actions.start_password_reset(
            state=state,
            id_number=person.customer.id_number,
            card_number=other_card(),
            channel="sms",
            client=client(i),
        ),
    )
    per_identity = ratelimit.RESET_PER_IDENTITY
    assert outcomes == Counter(
        {"card_not_found": per_identity, "rate_limited": THREADS - per_identity}
    )
    with pytest.raises(DomainError) as info:
        actions.start_password_reset(
            state=state,
            id_number=person.customer.id_number,
            card_number=person.card_number,
            channel="sms",
            client=client(99),
        )
    assert info.value.code == "rate_limited"


def test_concurrent_reset_starts_are_limited_per_card(state: AppState, person: Person) -> None:
    """Issue 11 #6: trying one card against many ID numbers is limited per card too."""
    outcomes = concurrently(
        THREADS,
        lambda i: actions.start_password_reset(
            state=state,
            id_number=new_id_number(),
            card_number=person.card_number,
            channel="sms",
            client=client(i),
        ),
    )
    per_identity = ratelimit.RESET_PER_IDENTITY
    assert outcomes == Counter(
        {"card_not_found": per_identity, "rate_limited": THREADS - per_identity}
    )


def test_concurrent_reset_starts_cannot_exhaust_the_customers_login_codes(
    state: AppState, person: Person
) -> None:
    """Issue 11 #6, 4.3.1.3-b: strangers who know the ID and card start 12 resets at once:
    at most the reset budget of codes is sent, and the customer still gets a login code."""
    outcomes = concurrently(
        THREADS,
        lambda i: actions.start_password_reset(
            state=state,
            id_number=person.customer.id_number,
            card_number=person.card_number,
            channel="sms",
            client=client(i),
        ),
    )
    budget = otp.RESET_DAILY_CAP
    assert outcomes["ok"] == budget
    assert set(outcomes) <= {"ok", "otp_daily_cap", "rate_limited"}
    assert len(phone_messages(state.db, person.customer.mobile, "reset")) == budget
    _login_challenge(state, person)  # the login code is still sent
    assert len(phone_messages(state.db, person.customer.mobile, "device")) == 1


# --- #12: unknown login names meet the same limits as real ones ------------------------------


def test_unknown_login_names_are_answered_like_real_ones(bank: Bank) -> None:
    """Issue 11 #12, ASVS5-6.1.1: eleven wrong passwords for a real login, an unknown login
    name and an unknown mobile number give the same answers one by one (401 five times,
    then 423 while "locked", then 429 from the per-login rate limit)."""
    bank.clock.advance(seconds=61)  # past the window of the fixture's own logins
    sequences = []
    for who in ("lina", "nobody_here", "13000000000"):
        sequences.append(
            [without_instance(post_login(bank, who, WRONG, device="x")) for _ in range(11)]
        )
    statuses = [status for status, _ in sequences[0]]
    assert statuses == [401] * 5 + [423] * 5 + [429]
    assert sequences[0] == sequences[1] == sequences[2]


# --- #13: unfreezing needs more than one SMS code ---------------------------------------------


def freeze(bank: Bank, scope: str, who: str = "zhangwei") -> None:
    response = bank.client.post(
        "/api/v1/security/freeze", json={"scope": scope}, headers=bank.headers[who]
    )
    assert response.status_code == 204, response.text


def unfreeze_code(bank: Bank, who: str = "zhangwei") -> str:
    sent = bank.client.post(
        "/api/v1/security/unfreeze/code", json={"channel": "sms"}, headers=bank.headers[who]
    )
    assert sent.status_code == 204, sent.text
    mobile, _ = run_read(bank.db, lambda s: _phone_and_id(s, who))
    return bank.last_code(mobile)


def unfreeze(bank: Bank, who: str = "zhangwei", **body: str) -> Any:
    return bank.client.post("/api/v1/security/unfreeze", json=body, headers=bank.headers[who])


@pytest.mark.parametrize("scope", ["transfers", "all"])
def test_unfreeze_needs_the_transaction_password_or_the_id_number_besides_the_code(
    bank: Bank, scope: str
) -> None:
    """Issue 11 #13, 4.4-c1: a stolen session with the SMS code alone cannot unfreeze; the
    code plus the transaction password, or plus the ID number, can."""
    freeze(bank, scope)
    code = unfreeze_code(bank)
    assert_problem(unfreeze(bank, code=code), "unfreeze_factor_required", 422)
    assert_problem(
        unfreeze(bank, code=code, transaction_password="999999"), "wrong_transaction_password"
    )
    assert_problem(unfreeze(bank, code=code, id_number=new_id_number()), "wrong_id_number")
    assert_problem(
        unfreeze(bank, code=wrong(code), transaction_password=DEFAULT_PIN), "otp_invalid"
    )
    me = bank.client.get("/api/v1/me", headers=bank.headers["zhangwei"]).json()
    assert me["freeze"] == scope
    # Each of the three tries counted against the code (a missing factor is no try): the
    # code is spent, even with both factors right.
    assert_problem(
        unfreeze(bank, code=code, transaction_password=DEFAULT_PIN), "otp_too_many_attempts"
    )
    assert (
        unfreeze(bank, code=unfreeze_code(bank), transaction_password=DEFAULT_PIN).status_code
        == 204
    )
    freeze(bank, scope)
    _, id_number = run_read(bank.db, lambda s: _phone_and_id(s, "zhangwei"))
    assert unfreeze(bank, code=unfreeze_code(bank), id_number=id_number).status_code == 204
    assert (
        bank.client.get("/api/v1/me", headers=bank.headers["zhangwei"]).json()["freeze"] == "none"
    )


def test_unfreeze_after_a_pin_lock_needs_more_than_the_code(bank: Bank) -> None:
    """Issue 11 #13: after five wrong transaction passwords froze transfers, the code
    alone does not unfreeze them."""
    run_write(
        bank.db,
        lambda s: s.execute(
            update(User).where(User.id == bank.a.user.id).values(freeze="transfers")
        ),
    )
    code = unfreeze_code(bank)
    assert_problem(unfreeze(bank, code=code), "unfreeze_factor_required", 422)
    _, id_number = run_read(bank.db, lambda s: _phone_and_id(s, "zhangwei"))
    assert unfreeze(bank, code=code, id_number=id_number).status_code == 204


def test_unfreeze_page_asks_for_the_transaction_password_or_id_number(bank: Bank) -> None:
    """Issue 11 #13: the security center page is the same use case as the API."""
    from security.conftest import web_login

    csrf = web_login(bank)
    frozen = bank.client.post(
        "/security/freeze", data={"csrf_token": csrf, "scope": "all"}, follow_redirects=False
    )
    assert frozen.status_code == 303
    sent = bank.client.post(
        "/security/unfreeze/code",
        data={"csrf_token": csrf, "channel": "sms"},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    code = bank.last_code(bank.a.customer.mobile)
    page = bank.client.get("/security")
    assert 'name="id_number"' in page.text and 'data-softkb="transaction_password"' in page.text
    alone = bank.client.post("/security/unfreeze", data={"csrf_token": csrf, "code": code})
    assert alone.status_code == 422
    done = bank.client.post(
        "/security/unfreeze",
        data={"csrf_token": csrf, "code": code, "transaction_password": DEFAULT_PIN},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text[:300]
    assert bank.client.get("/api/v1/me", headers=bank.headers["zhangwei"]).json()["freeze"] == (
        "none"
    )


# --- #16: registration proves possession of the reserved mobile -------------------------------


def applicant(bank: Bank, *, card_status: str = "active") -> dict[str, str]:
    def build(s: Session) -> dict[str, str]:
        c = make_customer(s, at=bank.clock.now(), name="陈静")
        acct = make_account(s, c, at=bank.clock.now(), with_card=True)
        card = card_of(s, acct)
        card.status = card_status
        return {
            "name": c.name,
            "id_number": c.id_number,
            "mobile": c.mobile,
            "card_number": card.number,
        }

    return run_write(bank.db, build)


def registration_form(who: dict[str, str]) -> dict[str, str]:
    return {
        **who,
        "username": "chenjing",
        "password": "Zhuce-Mima-77",
        "transaction_password": "582936",
    }


def users_named(bank: Bank, username: str) -> int:
    return (
        run_read(
            bank.db,
            lambda s: s.scalar(select(func.count(User.id)).where(User.username == username)),
        )
        or 0
    )


def test_registration_creates_the_user_only_with_the_code_sent_to_the_reserved_mobile(
    bank: Bank,
) -> None:
    """Issue 11 #16, 5.1.1-a: registering sends a code to the mobile the bank holds; no user
    exists until that code is entered; a wrong code is refused and counted."""
    who = applicant(bank)
    started = bank.client.post("/api/v1/auth/register", json=registration_form(who))
    assert started.status_code == 202, started.text
    registration = started.json()["registration_id"]
    assert users_named(bank, "chenjing") == 0
    code = bank.last_code(who["mobile"])
    sent = run_read(bank.db, lambda s: notify.messages_to(s, phone=who["mobile"]))
    assert sent[0].purpose == "register"
    refused = bank.client.post(
        "/api/v1/auth/register/verify", json={"registration_id": registration, "code": wrong(code)}
    )
    assert_problem(refused, "otp_invalid", 422)
    assert users_named(bank, "chenjing") == 0
    done = bank.client.post(
        "/api/v1/auth/register/verify", json={"registration_id": registration, "code": code}
    )
    assert done.status_code == 201, done.text
    assert (done.json()["username"], done.json()["edition"]) == ("chenjing", "public")
    assert users_named(bank, "chenjing") == 1
    again = bank.client.post(
        "/api/v1/auth/register/verify", json={"registration_id": registration, "code": code}
    )
    assert again.status_code in (404, 409, 422)
    assert users_named(bank, "chenjing") == 1


def test_registration_code_takes_three_tries_and_can_be_sent_again(bank: Bank) -> None:
    """Issue 11 #16, 4.3.1.3-a: three wrong codes spend it; a new code (SMS or voice) for
    the same registration works."""
    who = applicant(bank)
    registration = bank.client.post("/api/v1/auth/register", json=registration_form(who)).json()[
        "registration_id"
    ]
    code = bank.last_code(who["mobile"])
    for _ in range(3):
        bad = {"registration_id": registration, "code": wrong(code)}
        assert_problem(bank.client.post("/api/v1/auth/register/verify", json=bad), "otp_invalid")
    right = {"registration_id": registration, "code": code}
    assert_problem(
        bank.client.post("/api/v1/auth/register/verify", json=right), "otp_too_many_attempts"
    )
    resent = bank.client.post(
        "/api/v1/auth/register/code", json={"registration_id": registration, "channel": "voice"}
    )
    assert resent.status_code == 204, resent.text
    fresh = bank.last_code(who["mobile"])
    done = bank.client.post(
        "/api/v1/auth/register/verify", json={"registration_id": registration, "code": fresh}
    )
    assert done.status_code == 201, done.text


def test_registration_code_expires_after_60_seconds(bank: Bank) -> None:
    """Issue 11 #16, 4.3.1.3-a: the registration code is a one-time code like the others."""
    who = applicant(bank)
    registration = bank.client.post("/api/v1/auth/register", json=registration_form(who)).json()[
        "registration_id"
    ]
    code = bank.last_code(who["mobile"])
    bank.clock.advance(seconds=61)
    late = {"registration_id": registration, "code": code}
    assert_problem(bank.client.post("/api/v1/auth/register/verify", json=late), "otp_expired")
    assert users_named(bank, "chenjing") == 0


def test_registration_page_asks_for_the_code_before_creating_the_user(bank: Bank) -> None:
    """Issue 11 #16: the /register page sends a code and shows the code step; the user is
    created when the code is entered there."""
    who = applicant(bank)
    page = bank.client.get("/register")
    form = {
        **registration_form(who),
        "password_again": "Zhuce-Mima-77",
        "csrf_token": hidden_csrf(page.text),
    }
    step = bank.client.post("/register", data=form, follow_redirects=False)
    assert step.status_code == 303, step.text[:300]
    verify_path = step.headers["location"]
    assert verify_path.startswith("/register/verify/")
    assert users_named(bank, "chenjing") == 0
    shown = bank.client.get(verify_path)
    assert shown.status_code == 200
    code = bank.last_code(who["mobile"])
    wrong_answer = bank.client.post(
        verify_path, data={"csrf_token": hidden_csrf(shown.text), "code": wrong(code)}
    )
    assert wrong_answer.status_code == 422
    assert users_named(bank, "chenjing") == 0
    done = bank.client.post(verify_path, data={"csrf_token": hidden_csrf(shown.text), "code": code})
    assert done.status_code == 200, done.text[:300]
    assert "chenjing" in done.text
    assert users_named(bank, "chenjing") == 1


def test_refused_identity_forms_do_not_echo_secrets_or_identifiers(bank: Bank) -> None:
    """4.1.2.1-e: a refused registration, forgotten-password or unfreeze form comes back
    without the passwords, PIN, code, ID or card number that were typed into it."""
    who = applicant(bank)
    form = registration_form(who)
    typed = {who["id_number"], who["card_number"], form["password"], form["transaction_password"]}
    page = bank.client.get("/register")
    refused = bank.client.post(
        "/register",
        data={
            **form,
            "card_number": other_card(7),
            "password_again": form["password"],
            "csrf_token": hidden_csrf(page.text),
        },
    )
    assert refused.status_code == 422
    assert not [value for value in typed | {other_card(7)} if value in refused.text]

    forgot = bank.client.post(
        "/password/forgot",
        data={
            "id_number": who["id_number"],
            "card_number": other_card(8),
            "csrf_token": hidden_csrf(page.text),
        },
    )
    assert forgot.status_code == 422
    assert who["id_number"] not in forgot.text and other_card(8) not in forgot.text

    from security.conftest import web_login

    csrf = web_login(bank)
    freeze(bank, "transfers")
    code = unfreeze_code(bank)
    _, id_number = run_read(bank.db, lambda s: _phone_and_id(s, "zhangwei"))
    wrong_pin = bank.client.post(
        "/security/unfreeze",
        data={"csrf_token": csrf, "code": code, "transaction_password": "975318"},
    )
    assert wrong_pin.status_code == 422
    assert "975318" not in wrong_pin.text and code not in wrong_pin.text
    assert id_number not in wrong_pin.text


@pytest.mark.parametrize("status", ["lost", "cancelled"])
def test_registration_refuses_a_lost_or_cancelled_card(bank: Bank, status: str) -> None:
    """Rule that no test noticed breaking (issue 11): a card reported lost, or cancelled,
    does not open online banking; the answer is the usual `card_not_found` and no code is
    sent."""
    who = applicant(bank, card_status=status)
    refused = bank.client.post("/api/v1/auth/register", json=registration_form(who))
    assert_problem(refused, "card_not_found", 422)
    assert run_read(bank.db, lambda s: notify.messages_to(s, phone=who["mobile"])) == []
    run_write(
        bank.db,
        lambda s: s.execute(
            update(Card)
            .where(Card.number_hash == _hash(who["card_number"]))
            .values(status="active")
        ),
    )
    accepted = bank.client.post("/api/v1/auth/register", json=registration_form(who))
    assert accepted.status_code == 202, accepted.text


def _hash(value: str) -> str:
    from wangyin.security.fields import lookup_hash

    return lookup_hash(value)


# --- rules whose tests would not notice them breaking -------------------------------------


def put_limits(bank: Bank, single: str, daily: str, code: str | None = None) -> Any:
    body: dict[str, str] = {"single_limit": single, "daily_limit": daily}
    if code is not None:
        body["code"] = code
    return bank.client.put("/api/v1/security/limits", json=body, headers=bank.headers["zhangwei"])


def put_password_free(bank: Bank, single: str, daily: str, code: str | None = None) -> Any:
    body: dict[str, str] = {"single": single, "daily": daily}
    if code is not None:
        body["code"] = code
    return bank.client.put(
        "/api/v1/security/password-free", json=body, headers=bank.headers["zhangwei"]
    )


def settings_code(bank: Bank) -> str:
    sent = bank.client.post(
        "/api/v1/security/code", json={"channel": "sms"}, headers=bank.headers["zhangwei"]
    )
    assert sent.status_code == 204, sent.text
    return bank.last_code(bank.a.customer.mobile)


def limits_now(bank: Bank) -> dict[str, str]:
    limits: dict[str, str] = bank.client.get(
        "/api/v1/security", headers=bank.headers["zhangwei"]
    ).json()["limits"]
    return limits


def test_raising_only_the_daily_limit_needs_a_code(bank: Bank) -> None:
    """Rule (issue 11), ASVS5-7.5.3: lowering both limits needs nothing; raising only the
    daily one (single unchanged) needs the settings code."""
    assert put_limits(bank, "100.00", "200.00").status_code == 204
    assert_problem(put_limits(bank, "100.00", "300.00"), "step_up_required", 422)
    assert limits_now(bank)["daily_limit"] == "200.00"
    assert put_limits(bank, "100.00", "300.00", settings_code(bank)).status_code == 204
    assert limits_now(bank)["daily_limit"] == "300.00"


def test_raising_only_the_daily_password_free_total_needs_a_code(bank: Bank) -> None:
    """Rule (issue 11), 5.1.2-g: with password-free payments on, raising only the daily
    total (single unchanged) needs the settings code."""
    assert put_password_free(bank, "100.00", "200.00", settings_code(bank)).status_code == 204
    assert_problem(put_password_free(bank, "100.00", "500.00"), "step_up_required", 422)
    assert limits_now(bank)["password_free_daily"] == "200.00"
    bank.clock.advance(seconds=61)
    assert put_password_free(bank, "100.00", "500.00", settings_code(bank)).status_code == 204
    assert limits_now(bank)["password_free_daily"] == "500.00"


def test_transfer_code_route_is_limited_per_customer(bank: Bank) -> None:
    """Rule (issue 11), ASVS5-6.6.3: POST /api/v1/transfers/{id}/code takes 5 requests per
    customer in 5 minutes; the 6th is refused although the IP is still under its own limit,
    and another customer from the same IP is not affected."""
    tid = prepare(bank).json()["id"]
    per_customer = bank.settings.ratelimit_code_per_account
    assert per_customer < bank.settings.ratelimit_code_per_ip
    path = f"/api/v1/transfers/{tid}/code"
    for _ in range(per_customer):
        sent = bank.client.post(path, headers=bank.headers["zhangwei"])
        assert sent.status_code == 204, sent.text
    assert_problem(bank.client.post(path, headers=bank.headers["zhangwei"]), "rate_limited", 429)
    lina = bank.client.post(
        "/api/v1/security/code", json={"channel": "sms"}, headers=bank.headers["lina"]
    )
    assert lina.status_code == 204, lina.text


def test_code_requests_refused_still_count_in_the_transaction_that_refused_them(
    bank: Bank,
) -> None:
    """Probing for codes with refused requests (a transfer that is not the caller's) spends
    the customer's code budget like sent ones: each refusal commits its count in the one
    transaction that decided it (issue 10 §5), so a real request after them is refused."""
    tid = prepare(bank).json()["id"]
    probes = bank.settings.ratelimit_code_per_account
    for _ in range(probes):
        assert_problem(
            bank.client.post(f"/api/v1/transfers/{tid}/code", headers=bank.headers["lina"]),
            "transfer_not_found",
            404,
        )
    lina_own = bank.client.post(
        "/api/v1/security/code", json={"channel": "sms"}, headers=bank.headers["lina"]
    )
    assert_problem(lina_own, "rate_limited", 429)
    # The owner's budget is their own: untouched by someone else's probes.
    sent = bank.client.post(f"/api/v1/transfers/{tid}/code", headers=bank.headers["zhangwei"])
    assert sent.status_code == 204, sent.text


def test_success_after_failures_alert_says_how_many_failures_and_when(bank: Bank) -> None:
    """Rule (issue 11), ASVS5-6.3.5: the SMS after a success that follows 3 failures names
    the number of failures and the time of the login, and tells the customer what to do."""
    for _ in range(3):
        post_login(bank, "lina", WRONG)
    bank.clock.advance(minutes=7)
    assert post_login(bank, "lina", DEFAULT_PASSWORD).json()["status"] == "authenticated"
    (alert,) = messages(bank, "lina", "login_alert")
    text = notify.body_of(alert)
    assert "3 次密码错误后登录成功" in text
    assert "10:07" in text  # 02:07 UTC is 10:07 in Shanghai
    assert "修改密码" in text
    # Two failures then a success: no alert.
    for _ in range(2):
        post_login(bank, "lina", WRONG)
    assert post_login(bank, "lina", DEFAULT_PASSWORD).json()["status"] == "authenticated"
    assert len(messages(bank, "lina", "login_alert")) == 1
