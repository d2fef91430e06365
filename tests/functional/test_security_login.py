"""Login hardening over HTTP (4.3.2-a/c/e/f, PSD2-RTS-4, ASVS5-6.1.1, 6.3.5, 7.2.4,
7.3.1/7.3.2): lockout and its SMS, uniform refusals, unlock by time and by staff, night
step-up, device binding, what each login records, session lifetime and logout."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from factories import DEFAULT_PASSWORD
from factories.bank import credential_of, device_headers, device_of
from functional.conftest import Bank, _phone_and_id, assert_problem
from wangyin.config import Settings
from wangyin.identity import devices
from wangyin.identity.models import UserSession
from wangyin.notify import service as notify
from wangyin.security.models import AuditRecord
from wangyin.uow import run_read

WRONG = "Falsch-Mima-99"
# 2026-03-01 17:30 UTC is 01:30 on 2 March in Shanghai.
NIGHT = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)
DAWN = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)  # 06:00 Shanghai


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Plain JSON fields, if this build has application-layer channel encryption."""
    if "channel_encryption" in Settings.model_fields:
        return settings.model_copy(update={"channel_encryption": "optional"})
    return settings


def post_login(
    bank: Bank, who: str, password: str, device: str | None = None, **headers: str
) -> Any:
    return bank.client.post(
        "/api/v1/auth/login",
        json={"login": who, "password": password},
        headers={
            **({"X-Device-Id": device} if device is not None else device_headers(who)),
            **headers,
        },
    )


def messages(bank: Bank, who: str) -> list[Any]:
    mobile, _ = run_read(bank.db, lambda s: _phone_and_id(s, who))
    return run_read(bank.db, lambda s: notify.messages_to(s, phone=mobile, limit=100))


def lock(bank: Bank, who: str = "lina") -> None:
    for _ in range(5):
        assert_problem(post_login(bank, who, WRONG), "invalid_credentials", 401)


def send_code(bank: Bank, challenge: str, device: str, channel: str = "sms") -> Any:
    return bank.client.post(
        "/api/v1/auth/login/code",
        json={"challenge_id": challenge, "channel": channel},
        headers={"X-Device-Id": device},
    )


def verify(
    bank: Bank, who: str, challenge: str, device: str, *, code: str | None = None, **extra: Any
) -> Any:
    mobile, _ = run_read(bank.db, lambda s: _phone_and_id(s, who))
    return bank.client.post(
        "/api/v1/auth/login/verify",
        json={"challenge_id": challenge, "code": code or bank.last_code(mobile), **extra},
        headers={"X-Device-Id": device},
    )


# --- 4.3.2-f, PSD2-RTS-4: lock after the 5th failure, SMS at once -----------------------------


def test_login_fifth_consecutive_failure_locks_30_minutes_and_texts_at_once(bank: Bank) -> None:
    """4.3.2-f, PSD2-RTS-4: four wrong passwords lock nothing; the 5th locks the login for
    30 minutes and an SMS to the reserved phone is queued in the same moment."""
    for _ in range(4):
        assert_problem(post_login(bank, "lina", WRONG), "invalid_credentials", 401)
    assert not [m for m in messages(bank, "lina") if m.purpose == "login_locked"]
    assert_problem(post_login(bank, "lina", WRONG), "invalid_credentials", 401)
    sent = [m for m in messages(bank, "lina") if m.purpose == "login_locked"]
    assert len(sent) == 1
    assert sent[0].status == "pending" and sent[0].channel == "sms"
    assert sent[0].created_at.replace(tzinfo=UTC) == bank.clock.now()
    assert "5" in notify.body_of(sent[0]) and "10:30" in notify.body_of(sent[0])
    body = assert_problem(post_login(bank, "lina", DEFAULT_PASSWORD), "login_locked", 423)
    assert "10:30" in body["detail"]


def test_login_success_resets_the_failure_count(bank: Bank) -> None:
    """4.3.2-f: only *consecutive* failures count; a good login in between starts again."""
    for _ in range(4):
        post_login(bank, "lina", WRONG)
    assert post_login(bank, "lina", DEFAULT_PASSWORD).status_code == 200
    bank.clock.advance(seconds=61)  # past the per-customer login request rate limit
    for _ in range(4):
        post_login(bank, "lina", WRONG)
    assert post_login(bank, "lina", DEFAULT_PASSWORD).json()["status"] == "authenticated"


def test_login_refusal_is_identical_for_unknown_user_and_wrong_password(bank: Bank) -> None:
    """ASVS5-6.1.1 (no account enumeration): an unknown login name, an unknown mobile and a
    wrong password get the same status, code and message."""
    answers = [
        post_login(bank, "lina", WRONG),
        post_login(bank, "nobody_here", WRONG),
        post_login(bank, "13000000000", WRONG),
    ]
    # The instance (the path) and the request id are per request by design.
    bodies = [
        {k: v for k, v in a.json().items() if k not in ("instance", "request_id")}
        for a in answers
    ]
    assert all(a.status_code == 401 for a in answers)
    assert bodies[0]["code"] == "invalid_credentials"
    assert bodies[0] == bodies[1] == bodies[2]


def test_locked_login_gives_the_same_answer_to_any_password(bank: Bank) -> None:
    """ASVS5-6.1.1, 4.3.2-f, issue 11 #3: while locked, a wrong password and the right one
    both read `login_locked`, so guessing on cannot tell the right guess."""
    lock(bank)
    assert_problem(post_login(bank, "lina", WRONG), "login_locked", 423)
    assert_problem(post_login(bank, "lina", DEFAULT_PASSWORD), "login_locked", 423)
    # Guessing on while locked neither extends the lock nor sends more texts.
    locks = [m for m in messages(bank, "lina") if m.purpose == "login_locked"]
    assert len(locks) == 1


def test_login_lock_lifts_after_30_minutes(bank: Bank) -> None:
    """4.3.2-f: the timed unlock: still locked at 29:59, open at 30:00."""
    lock(bank)
    bank.clock.advance(minutes=29, seconds=59)
    assert_problem(post_login(bank, "lina", DEFAULT_PASSWORD), "login_locked", 423)
    bank.clock.advance(seconds=1)
    assert post_login(bank, "lina", DEFAULT_PASSWORD).json()["status"] == "authenticated"


def test_login_lock_lifted_by_admin_unlock_command(
    bank: Bank, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4.3.2-f: staff unlock with `wangyin admin unlock <login>`, recorded in the audit trail."""
    from wangyin.cli import app

    lock(bank)
    url = bank.db.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("WANGYIN_DATABASE_URL", url)
    result = CliRunner().invoke(app, ["admin", "unlock", "lina"])
    assert result.exit_code == 0, result.output
    assert "unlocked" in result.output
    assert post_login(bank, "lina", DEFAULT_PASSWORD).json()["status"] == "authenticated"
    events = run_read(
        bank.db,
        lambda s: list(s.scalars(select(AuditRecord.event).where(AuditRecord.actor == "cli"))),
    )
    assert events == ["login_unlocked"]
    unknown = CliRunner().invoke(app, ["admin", "unlock", "nobody_here"])
    assert unknown.exit_code == 1


def test_login_success_after_failures_notifies_the_customer(bank: Bank) -> None:
    """ASVS5-6.3.5: a success after several (3) consecutive failures is suspicious; the
    customer is told on the reserved phone."""
    for _ in range(3):
        post_login(bank, "lina", WRONG)
    before = len(messages(bank, "lina"))
    assert post_login(bank, "lina", DEFAULT_PASSWORD).json()["status"] == "authenticated"
    assert len(messages(bank, "lina")) > before


# --- 4.3.2-e: night logins -----------------------------------------------------------------


@pytest.mark.parametrize("channel", ["sms", "voice"])
def test_login_at_night_needs_a_code_even_from_a_bound_device(bank: Bank, channel: str) -> None:
    """4.3.2-e, 4.3.1.4-a: 01:30 Shanghai time, bound device: a challenge; the SMS or voice
    code (no ID number needed) opens the session."""
    bank.clock.set(NIGHT)
    first = post_login(bank, "lina", DEFAULT_PASSWORD).json()
    assert first["status"] == "challenge_required"
    assert first["reasons"] == ["night"]
    assert first.get("token") is None
    device = device_of("lina")
    assert send_code(bank, first["challenge_id"], device, channel).status_code == 204
    assert messages(bank, "lina")[0].channel == channel
    done = verify(bank, "lina", first["challenge_id"], device)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "authenticated" and done.json()["token"]


@pytest.mark.parametrize(
    ("moment", "challenged"),
    [
        (datetime(2026, 3, 1, 16, 0, tzinfo=UTC), True),  # 00:00 Shanghai
        (datetime(2026, 3, 1, 21, 59, 59, tzinfo=UTC), True),  # 05:59:59
        (DAWN, False),  # 06:00
        (datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC), False),  # 23:59:59
    ],
)
def test_login_night_window_is_midnight_to_six_shanghai(
    bank: Bank, moment: datetime, challenged: bool
) -> None:
    """4.3.2-e: the window is [00:00, 06:00) in Asia/Shanghai, whatever the server's zone."""
    bank.clock.set(moment)
    status = post_login(bank, "lina", DEFAULT_PASSWORD).json()["status"]
    assert status == ("challenge_required" if challenged else "authenticated")


def test_login_night_wrong_code_is_refused(bank: Bank) -> None:
    """4.3.2-e: the night challenge is not passed with a wrong code."""
    bank.clock.set(NIGHT)
    challenge = post_login(bank, "lina", DEFAULT_PASSWORD).json()["challenge_id"]
    send_code(bank, challenge, device_of("lina"))
    mobile, _ = run_read(bank.db, lambda s: _phone_and_id(s, "lina"))
    good = bank.last_code(mobile)
    bad = f"{(int(good) + 1) % 10**6:06d}"
    assert_problem(verify(bank, "lina", challenge, device_of("lina"), code=bad), "otp_invalid")


# --- 4.3.2-c: binding a new device ---------------------------------------------------------


def test_new_device_needs_code_and_id_number_then_is_listed_and_removable(bank: Bank) -> None:
    """4.3.2-c, 5.1.2-g: a new phone gets a challenge; code + wrong ID number is refused;
    code + the right ID number binds it; it shows in GET /api/v1/security; after removal it
    must be bound again."""
    phone = "new-phone-001"
    bank.clock.advance(minutes=1)
    before = {
        d["id"]
        for d in bank.client.get("/api/v1/security", headers=bank.headers["lina"]).json()["devices"]
    }
    first = post_login(bank, "lina", DEFAULT_PASSWORD, device=phone).json()
    assert first["status"] == "challenge_required" and first["reasons"] == ["new_device"]
    challenge = first["challenge_id"]
    assert send_code(bank, challenge, phone).status_code == 204
    _, id_number = run_read(bank.db, lambda s: _phone_and_id(s, "lina"))
    other_id = run_read(bank.db, lambda s: _phone_and_id(s, "zhangwei"))[1]
    assert_problem(verify(bank, "lina", challenge, phone, id_number=other_id), "wrong_id_number")
    assert_problem(verify(bank, "lina", challenge, phone), "wrong_id_number")  # none given
    done = verify(bank, "lina", challenge, phone, id_number=id_number)
    assert done.status_code == 200, done.text
    headers = {"Authorization": f"Bearer {done.json()['token']}", "X-Device-Id": phone}

    security = bank.client.get("/api/v1/security", headers=headers).json()
    assert len(security["devices"]) == 2  # the factory phone and this one
    # From now on this phone logs in without a challenge (daytime), with the credential
    # the binding gave it (and then the one each login gives it).
    credential = done.json()["device_credential"]
    again = post_login(
        bank, "lina", DEFAULT_PASSWORD, device=phone, **{"X-Device-Credential": credential}
    ).json()
    assert again["status"] == "authenticated"
    credential = again["device_credential"]
    bound_ids = {
        d["id"]
        for d in bank.client.get("/api/v1/security", headers=bank.headers["lina"]).json()["devices"]
    }
    (newest,) = bound_ids - before
    assert security["devices"][0]["id"] == newest  # newest first
    assert (
        bank.client.delete(
            f"/api/v1/security/devices/{newest}", headers=bank.headers["lina"]
        ).status_code
        == 204
    )
    remaining = bank.client.get("/api/v1/security", headers=bank.headers["lina"]).json()
    assert newest not in {d["id"] for d in remaining["devices"]}
    again = post_login(
        bank, "lina", DEFAULT_PASSWORD, device=phone, **{"X-Device-Credential": credential}
    ).json()
    assert again["status"] == "challenge_required" and again["reasons"] == ["new_device"]


def test_login_without_device_id_is_treated_as_a_new_device(bank: Bank) -> None:
    """4.3.2-c: no device id at all is never a bound device."""
    assert post_login(bank, "lina", DEFAULT_PASSWORD, device="").json()["reasons"] == ["new_device"]


def test_new_device_at_night_gives_both_reasons(bank: Bank) -> None:
    """4.3.2-c/e: both rules apply together."""
    bank.clock.set(NIGHT)
    body = post_login(bank, "lina", DEFAULT_PASSWORD, device="night-phone").json()
    assert sorted(body["reasons"]) == ["new_device", "night"]


# --- 4.3.2-a: what each login records -------------------------------------------------------


def test_login_records_client_type_ip_device_os_and_user_agent(bank: Bank) -> None:
    """4.3.2-a, 4.4-c2: the session row and the audit record hold client type, IP, device
    (the bound device's public id, not its credential), OS version and user agent of the
    login."""
    ua = "WangyinApp/3.2 (iPhone; CPU iPhone OS 17_4 like Mac OS X)"
    phone = devices.public_id_of(credential_of("lina"))
    response = post_login(bank, "lina", DEFAULT_PASSWORD, **{"User-Agent": ua})
    token = response.json()["token"]
    row = run_read(
        bank.db,
        lambda s: s.scalars(
            select(UserSession).where(
                UserSession.token_hash == hashlib.sha256(token.encode()).hexdigest()
            )
        ).one(),
    )
    assert (row.client_type, row.ip, row.device_id) == ("api", "testclient", phone)
    assert row.os_version == "iOS 17.4"
    assert row.user_agent == ua
    record = run_read(
        bank.db,
        lambda s: s.scalars(
            select(AuditRecord)
            .where(AuditRecord.event == "login", AuditRecord.outcome == "success")
            .order_by(AuditRecord.seq.desc())
        ).first(),
    )
    assert record is not None
    assert (record.ip, record.device_id) == ("testclient", phone)
    assert "api" in record.client and "iOS 17.4" in record.client and ua in record.client
    # An explicit app header wins over the user agent.
    token2 = post_login(bank, "lina", DEFAULT_PASSWORD, **{"X-Client-OS": "HarmonyOS 4.2"}).json()[
        "token"
    ]
    os2 = run_read(
        bank.db,
        lambda s: s.scalar(
            select(UserSession.os_version).where(
                UserSession.token_hash == hashlib.sha256(token2.encode()).hexdigest()
            )
        ),
    )
    assert os2 == "HarmonyOS 4.2"
    recent = bank.client.get("/api/v1/security", headers=bank.headers["lina"]).json()
    assert recent["recent_logins"][0]["os_version"] == "HarmonyOS 4.2"


# --- ASVS5-7.2.4 / 7.3.x: session tokens and lifetime --------------------------------------


def test_session_token_is_new_at_every_login_and_stored_only_hashed(bank: Bank) -> None:
    """ASVS5-7.2.4, ASVS5-11.5.1: every login gets a fresh token (>= 128 bits); the database
    keeps only its SHA-256."""
    tokens = [post_login(bank, "lina", DEFAULT_PASSWORD).json()["token"] for _ in range(3)]
    assert len(set(tokens)) == 3
    assert all(len(t) >= 22 for t in tokens)
    stored = run_read(
        bank.db,
        lambda s: " ".join(
            " ".join(str(v) for v in row)
            for row in s.execute(text("SELECT * FROM user_sessions")).all()
        ),
    )
    for token in tokens:
        assert token not in stored
        assert hashlib.sha256(token.encode()).hexdigest() in stored


def test_session_idle_timeout_is_5_minutes(bank: Bank) -> None:
    """ASVS5-7.3.1, PSD2-RTS-4: 5 minutes without a request ends the session."""
    headers = bank.login("lina")
    bank.clock.advance(minutes=4, seconds=59)
    assert bank.client.get("/api/v1/me", headers=headers).status_code == 200
    bank.clock.advance(minutes=5, seconds=1)
    assert_problem(bank.client.get("/api/v1/me", headers=headers), "not_authenticated", 401)


def test_session_absolute_timeout_is_8_hours(bank: Bank) -> None:
    """ASVS5-7.3.2: even an active session ends 8 hours after login."""
    start = bank.clock.now()
    headers = bank.login("lina")
    while bank.clock.now() + timedelta(minutes=4) < start + timedelta(hours=8):
        bank.clock.advance(minutes=4)
        assert bank.client.get("/api/v1/me", headers=headers).status_code == 200
    bank.clock.set(start + timedelta(hours=8))
    assert_problem(bank.client.get("/api/v1/me", headers=headers), "not_authenticated", 401)


def test_logout_ends_the_session_on_the_server(bank: Bank) -> None:
    """5.1.1-b, ASVS5-7.4.1: logout stamps the session ended; the token is dead afterwards."""
    headers = bank.login("lina")
    token = headers["Authorization"].removeprefix("Bearer ")
    assert bank.client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    ended = run_read(
        bank.db,
        lambda s: s.scalar(
            select(UserSession.ended_at).where(
                UserSession.token_hash == hashlib.sha256(token.encode()).hexdigest()
            )
        ),
    )
    assert ended is not None
    assert_problem(bank.client.get("/api/v1/accounts", headers=headers), "not_authenticated", 401)


# --- 4.3.1.3-b over HTTP ---------------------------------------------------------------------


def test_otp_daily_cap_answer_over_http(bank: Bank) -> None:
    """4.3.1.3-b: the 11th code of the day is refused with HTTP 429 and `otp_daily_cap`,
    a message that names the cap. (Requests are spread out to stay under the per-IP and
    per-customer request rate limits, which are a separate control.)"""
    phone = "cap-phone"
    sent = 0
    while True:
        challenge = post_login(bank, "lina", DEFAULT_PASSWORD, device=phone).json()["challenge_id"]
        for _ in range(bank.settings.ratelimit_code_per_account):
            response = send_code(bank, challenge, phone)
            if sent == 10:
                body = assert_problem(response, "otp_daily_cap", 429)
                assert "10" in body["detail"]
                return
            assert response.status_code == 204, response.text
            sent += 1
            bank.clock.advance(seconds=7)
        bank.clock.advance(seconds=bank.settings.ratelimit_code_account_window_seconds)
