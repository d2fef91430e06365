"""The audit trail as an auditor and a customer see it (4.1.4-d/e, 4.1.5.2-f, 4.3.2-a,
4.4-c2, 5.1.2-h, ASVS5-16.3.1): which events are recorded with who/when/IP/device, that
`verify_all` is clean after a real journey, that a customer's log holds only their own
records, and that no record carries a secret or a full identifier."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select, text

from factories import DEFAULT_PASSWORD
from factories.bank import DEFAULT_PIN, device_of
from functional.conftest import Bank, _phone_and_id
from wangyin.config import Settings
from wangyin.identity.models import Device
from wangyin.notify import service as notify
from wangyin.notify.models import OutboxMessage
from wangyin.security.models import AuditRecord
from wangyin.uow import run_read
from wangyin.verify import verify_all

NEW_PASSWORD = "Xin-Mima-2026"
RESET_PASSWORD = "Chong-Zhi-8899"
WRONG_PASSWORD = "Falsch-Mima-99"
UA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AuditTest/1.0"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Plain JSON fields, if this build has application-layer channel encryption."""
    if "channel_encryption" in Settings.model_fields:
        return settings.model_copy(update={"channel_encryption": "optional"})
    return settings


@dataclass
class Journey:
    transfer_id: str = ""
    secrets: set[str] = field(default_factory=set)


def _ok(response: Any, status: int = 204) -> Any:
    assert response.status_code == status, response.text
    return response


def run_journey(bank: Bank) -> Journey:
    """One customer's busy day, plus a lockout and a password reset for two others."""
    c, j = bank.client, Journey()
    mobile, id_number = run_read(bank.db, lambda s: _phone_and_id(s, "lina"))
    phone = "audit-phone"
    hdr = {"X-Device-Id": phone, "User-Agent": UA}

    # A wrong password, then a new device bound with a code (one wrong try first).
    c.post("/api/v1/auth/login", json={"login": "lina", "password": WRONG_PASSWORD}, headers=hdr)
    challenge = c.post(
        "/api/v1/auth/login", json={"login": "lina", "password": DEFAULT_PASSWORD}, headers=hdr
    ).json()["challenge_id"]
    _ok(c.post("/api/v1/auth/login/code", json={"challenge_id": challenge}, headers=hdr))
    code = bank.last_code(mobile)
    j.secrets.add(code)
    bad = f"{(int(code) + 1) % 10**6:06d}"
    c.post(
        "/api/v1/auth/login/verify",
        json={"challenge_id": challenge, "code": bad, "id_number": id_number},
        headers=hdr,
    )
    token = _ok(
        c.post(
            "/api/v1/auth/login/verify",
            json={"challenge_id": challenge, "code": code, "id_number": id_number},
            headers=hdr,
        ),
        200,
    ).json()["token"]
    auth = {**hdr, "Authorization": f"Bearer {token}"}

    # Security settings.
    _ok(
        c.put(
            "/api/v1/security/limits",
            json={"single_limit": "5000", "daily_limit": "8000"},
            headers=auth,
        )
    )
    _ok(c.put("/api/v1/security/password-free", json={"single": "0", "daily": "0"}, headers=auth))

    # A transfer: prepared, refused once (wrong PIN), confirmed.
    prepared = _ok(
        c.post(
            "/api/v1/transfers",
            json={
                "from_account_id": bank.b.account.public_id,
                "to_account_number": bank.a.account.account_number,
                "payee_name": "张伟",
                "amount": "10.00",
                "currency": "CNY",
                "remark": "午饭",
            },
            headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
        ),
        201,
    ).json()
    j.transfer_id = prepared["id"]
    _ok(c.post(f"/api/v1/transfers/{j.transfer_id}/code", headers=auth))
    code = bank.last_code(mobile)
    j.secrets.add(code)
    c.post(
        f"/api/v1/transfers/{j.transfer_id}/confirm",
        json={"transaction_password": "999999", "code": code},
        headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
    )
    _ok(
        c.post(
            f"/api/v1/transfers/{j.transfer_id}/confirm",
            json={"transaction_password": DEFAULT_PIN, "code": code},
            headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
        ),
        200,
    )

    # Freeze and unfreeze.
    _ok(c.post("/api/v1/security/freeze", json={"scope": "transfers"}, headers=auth))
    _ok(c.post("/api/v1/security/unfreeze/code", json={"channel": "voice"}, headers=auth))
    code = bank.last_code(mobile)
    j.secrets.add(code)
    unfreeze = {"code": code, "transaction_password": DEFAULT_PIN}
    _ok(c.post("/api/v1/security/unfreeze", json=unfreeze, headers=auth))

    # Password change, then the new device removed again.
    _ok(
        c.post(
            "/api/v1/auth/password",
            json={"old_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
            headers=auth,
        )
    )
    devices = _ok(c.get("/api/v1/security", headers=auth), 200).json()["devices"]
    newest = devices[0]["id"]
    _ok(c.delete(f"/api/v1/security/devices/{newest}", headers=auth))

    # 王芳 locks herself out; 张伟 resets a forgotten password.
    for _ in range(5):
        c.post(
            "/api/v1/auth/login",
            json={"login": "wangfang", "password": WRONG_PASSWORD},
            headers={"X-Device-Id": device_of("wangfang")},
        )
    a_mobile, a_id = run_read(bank.db, lambda s: _phone_and_id(s, "zhangwei"))
    challenge = _ok(
        c.post(
            "/api/v1/auth/password/reset",
            json={"id_number": a_id, "card_number": bank.a.card_number},
        ),
        200,
    ).json()["challenge_id"]
    code = bank.last_code(a_mobile)
    j.secrets.add(code)
    _ok(
        c.post(
            "/api/v1/auth/password/reset/finish",
            json={"challenge_id": challenge, "code": code, "new_password": RESET_PASSWORD},
        )
    )

    # Every code the bank ever texted, and every identifier of the three customers.
    bodies = run_read(
        bank.db, lambda s: [notify.body_of(m) for m in s.scalars(select(OutboxMessage))]
    )
    for body in bodies:
        j.secrets.update(re.findall(r"(?<!\d)\d{6}(?!\d)", body))
    for who, person in (("zhangwei", bank.a), ("lina", bank.b), ("wangfang", bank.c)):
        phone_no, id_no = run_read(bank.db, lambda s, w=who: _phone_and_id(s, w))
        j.secrets.update({phone_no, id_no, person.card_number, person.account.account_number})
    j.secrets.update(
        {DEFAULT_PASSWORD, NEW_PASSWORD, RESET_PASSWORD, WRONG_PASSWORD, DEFAULT_PIN, "999999"}
    )
    return j


def records(bank: Bank) -> list[AuditRecord]:
    return run_read(
        bank.db, lambda s: list(s.scalars(select(AuditRecord).order_by(AuditRecord.seq)))
    )


def test_audit_records_every_security_event_with_who_when_ip_and_device(bank: Bank) -> None:
    """4.1.4-d, 4.1.5.2-f, 4.3.2-a, 4.4-c2, ASVS5-16.3.1: logins (success, failure,
    challenged), the lock, device binding and removal, password change and reset, codes
    issued and wrong codes, transfer prepared/refused/confirmed, limit and password-free
    changes, freeze and unfreeze: each is recorded with actor, time, IP and device."""
    journey = run_journey(bank)
    rows = records(bank)
    seen = {(r.event, r.outcome) for r in rows}
    expected = {
        ("login", "failure"),
        ("login", "challenged"),
        ("login", "success"),
        ("login_locked", "success"),
        ("code_issued", "success"),
        ("code_checked", "failure"),
        ("device_bound", "success"),
        ("device_removed", "success"),
        ("limits_changed", "success"),
        ("password_free_changed", "success"),
        ("transfer_prepared", "success"),
        ("transfer_refused", "refused"),
        ("transfer_confirmed", "success"),
        ("frozen", "success"),
        ("unfrozen", "success"),
        ("password_changed", "success"),
        ("password_reset_started", "success"),
        ("password_reset", "success"),
    }
    assert expected <= seen, expected - seen
    by_event = {r.event: r for r in rows}
    # The bound device is recorded by its public id (issue 11 #7), other requests by the
    # name the app gives itself (X-Device-Id).
    bound = run_read(
        bank.db,
        lambda s: s.scalars(
            select(Device.public_id).where(Device.device_id == "audit-phone")
        ).one(),
    )
    for event in ("device_bound", "transfer_prepared", "transfer_confirmed", "limits_changed"):
        record = by_event[event]
        assert record.actor == bank.b.user.public_id, event
        assert record.customer_id == bank.b.customer.id, event
        device = bound if event == "device_bound" else "audit-phone"
        assert (record.ip, record.device_id) == ("testclient", device), event
        assert "Android 14" in record.client and UA in record.client, event
        assert record.at is not None
    confirmed = json.loads(by_event["transfer_confirmed"].details)
    assert confirmed["transfer"] == journey.transfer_id
    assert (confirmed["amount"], confirmed["currency"], confirmed["with"]) == (
        "10.00",
        "CNY",
        "pin+otp",
    )
    assert confirmed["to"].endswith(bank.a.account.account_number[-4:]) and "*" in confirmed["to"]
    failure = next(r for r in rows if r.event == "login" and r.outcome == "failure")
    assert failure.ip == "testclient" and failure.device_id == "audit-phone"


def test_audit_password_change_records_ip_and_device(bank: Bank) -> None:
    """4.3.2-a, 4.4-c2: the password change is reconstructible: where it came from."""
    run_journey(bank)
    record = next(r for r in records(bank) if r.event == "password_changed")
    assert (record.ip, record.device_id) == ("testclient", "audit-phone")


def test_audit_chain_verifies_clean_after_a_real_journey(bank: Bank) -> None:
    """4.1.4-d/e, ASVS5-16.4.2: after everything above, `verify_all` finds no problem in the
    ledger, the transfers or the audit chain."""
    run_journey(bank)
    report = verify_all(bank.db)
    assert report.problems == []
    assert report.checks["audit records"] == len(records(bank)) > 20


def test_operation_log_shows_only_the_customers_own_records(bank: Bank) -> None:
    """5.1.2-h, 4.4-c2: GET /api/v1/security/log returns the caller's own operations only,
    with time, IP and device, newest first."""
    journey = run_journey(bank)
    headers = bank.login("lina", password=NEW_PASSWORD)
    log = bank.client.get("/api/v1/security/log", headers=headers).json()
    own = run_read(
        bank.db,
        lambda s: s.scalar(
            text("SELECT count(*) FROM audit_records WHERE customer_id = :c"),
            {"c": bank.b.customer.id},
        ),
    )
    assert len(log) == own
    events = [entry["event"] for entry in log]
    assert "transfer_confirmed" in events and "device_bound" in events
    assert "login_locked" not in events and "password_reset" not in events  # others' events
    assert [e["at"] for e in log] == sorted((e["at"] for e in log), reverse=True)
    # 张伟 sees his incoming transfer nowhere in his operation log; he did not operate it.
    payee = bank.login("zhangwei", password=RESET_PASSWORD)
    theirs = bank.client.get("/api/v1/security/log", headers=payee).json()
    assert journey.transfer_id not in json.dumps(theirs)
    assert all(e["event"] != "transfer_confirmed" for e in theirs)


def test_no_audit_record_contains_a_password_pin_code_or_full_identifier(bank: Bank) -> None:
    """4.1.2.1-e, 4.1.6-c/e, ASVS5-16.2.5: no password, PIN, one-time code, full ID number,
    mobile number, card number or account number in any audit record (hashes set aside)."""
    journey = run_journey(bank)
    rows = run_read(
        bank.db,
        lambda s: s.execute(
            text("SELECT event, outcome, actor, ip, device_id, client, details FROM audit_records")
        ).all(),
    )
    dump = "\n".join("|".join(str(v) for v in row) for row in rows)
    dump = re.sub(r"[0-9a-f]{64}", "<hash>", dump)  # key-data digests are hashes
    leaked = sorted(s for s in journey.secrets if s and s in dump)
    assert leaked == []
    assert len(journey.secrets) > 15


def test_refusals_before_any_transaction_are_audited_too(bank: Bank) -> None:
    """4.1.5.2-f, ASVS5-16.3.1: a public-edition transfer attempt, a missing Idempotency-Key
    and a locked login with the right password are all in the audit trail with their reason."""
    from sqlalchemy import select

    from wangyin.security.models import AuditRecord
    from wangyin.uow import run_read

    body = {
        "from_account_id": bank.c.account.public_id,
        "to_account_number": bank.a.account.account_number,
        "payee_name": "张伟",
        "amount": "1.00",
        "currency": "CNY",
    }
    bank.client.post(
        "/api/v1/transfers",
        json=body,
        headers={**bank.headers["wangfang"], "Idempotency-Key": "public-edition-1"},
    )
    body["from_account_id"] = bank.a.account.public_id
    body["to_account_number"] = bank.b.account.account_number
    body["payee_name"] = "李娜"
    bank.client.post("/api/v1/transfers", json=body, headers=bank.headers["zhangwei"])
    refused = run_read(
        bank.db,
        lambda s: s.scalars(
            select(AuditRecord.details).where(AuditRecord.event == "transfer_refused")
        ).all(),
    )
    assert any("public_edition" in d for d in refused)
    assert any("idempotency_key_required" in d for d in refused)


def test_locked_login_with_the_right_password_is_audited(bank: Bank) -> None:
    """ASVS5-16.3.1: the refusal of a locked login is an authentication decision: logged."""
    from sqlalchemy import select

    from factories import DEFAULT_PASSWORD
    from wangyin.security.models import AuditRecord
    from wangyin.uow import run_read

    device = {"X-Device-Id": "device-lina"}
    for _ in range(5):
        bank.client.post(
            "/api/v1/auth/login", json={"login": "lina", "password": "Wrong-pass-1"}, headers=device
        )
    locked = bank.client.post(
        "/api/v1/auth/login", json={"login": "lina", "password": DEFAULT_PASSWORD}, headers=device
    )
    assert locked.json()["code"] == "login_locked"
    refused = run_read(
        bank.db,
        lambda s: s.scalars(
            select(AuditRecord.details).where(
                AuditRecord.event == "login", AuditRecord.outcome == "refused"
            )
        ).all(),
    )
    assert any("login_locked" in d for d in refused)
