"""The back office's API (issue 7 §1-§2): staff sign-in with TOTP on the injectable clock,
sessions apart from the customers', masking and audited reveal, the maker-checker
pipeline and each counter function, end to end through HTTP."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from factories import DEFAULT_PASSWORD
from factories.bank import DEFAULT_PIN
from functional.conftest import Bank, assert_problem
from wangyin import seed
from wangyin.backoffice.models import StaffSession, StaffUser
from wangyin.identity.models import Customer, User
from wangyin.identity.passwords import verify_password
from wangyin.notify import service as notify
from wangyin.security.audit import verify_chain
from wangyin.security.models import AuditRecord
from wangyin.uow import run_read, run_write

API = "/api/admin/v1"
SECRETS = {m.username: m.totp_secret for m in seed.STAFF}
ROLE_OF = {m.username: m.role for m in seed.STAFF}
USER_OF_ROLE = {m.role: m.username for m in seed.STAFF}


@dataclass
class Office:
    bank: Bank

    def code(self, username: str, *, offset: int = 0) -> str:
        at = self.bank.clock.now() + timedelta(seconds=30 * offset)
        return pyotp.TOTP(SECRETS[username]).at(at)

    def sign_in(self, username: str) -> dict[str, str]:
        """A bearer header for this staff member (the clock moves one TOTP step first, so
        every sign-in has a fresh code)."""
        self.bank.clock.advance(seconds=30)
        response = self.bank.client.post(
            f"{API}/auth/login",
            json={
                "username": username,
                "password": seed.DEMO_STAFF_PASSWORD,
                "code": self.code(username),
            },
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}

    def csrf_of(self, headers: dict[str, str]) -> str:
        token = headers["Authorization"].removeprefix("Bearer ")
        digest = hashlib.sha256(token.encode()).hexdigest()
        return str(
            run_read(
                self.bank.db,
                lambda s: s.scalar(
                    select(StaffSession.csrf_token).where(StaffSession.token_hash == digest)
                ),
            )
        )

    def propose(
        self, who: dict[str, str], customer: str, kind: str, payload: dict[str, Any] | None = None
    ) -> Any:
        return self.bank.client.post(
            f"{API}/customers/{customer}/commands/{kind}",
            json={"reason": "customer at the counter", "payload": payload or {}},
            headers=who,
        )

    def approve(self, who: dict[str, str], command_id: str) -> Any:
        return self.bank.client.post(
            f"{API}/commands/{command_id}/approve", json={"reason": "documents checked"},
            headers=who,
        )


def seed_office(bank: Bank) -> Office:
    run_write(bank.db, lambda s: seed.seed_staff(s, now=bank.clock.now()))
    return Office(bank)


@pytest.fixture
def office(bank: Bank) -> Office:
    return seed_office(bank)


def _audit(bank: Bank, event: str) -> list[AuditRecord]:
    return run_read(
        bank.db,
        lambda s: list(s.scalars(select(AuditRecord).where(AuditRecord.event == event))),
    )


def _user(bank: Bank, username: str) -> User:
    return run_read(
        bank.db, lambda s: s.scalars(select(User).where(User.username == username)).one()
    )


# --- sign-in -------------------------------------------------------------------------


def test_sign_in_needs_password_and_a_fresh_totp_code_and_is_audited(office: Office) -> None:
    client = office.bank.client
    body = {"username": "teller", "password": seed.DEMO_STAFF_PASSWORD}
    # No code, a wrong code, a wrong password: the same refusal.
    assert_problem(client.post(f"{API}/auth/login", json=body), "staff_invalid_credentials", 401)
    wrong = {**body, "code": "000000" if office.code("teller") != "000000" else "111111"}
    assert_problem(client.post(f"{API}/auth/login", json=wrong), "staff_invalid_credentials")
    bad_password = {**body, "password": "nope-nope", "code": office.code("teller")}
    assert_problem(client.post(f"{API}/auth/login", json=bad_password), "staff_invalid_credentials")
    good = {**body, "code": office.code("teller")}
    response = client.post(f"{API}/auth/login", json=good)
    assert response.status_code == 200, response.text
    # The same code again (a replay within its 30 s window) is refused (RFC 6238 §5.2).
    assert_problem(client.post(f"{API}/auth/login", json=good), "staff_invalid_credentials")
    # The previous step's code is accepted once (clock drift), the one two steps back not.
    office.bank.clock.advance(seconds=30)
    stale = {**body, "code": office.code("teller", offset=-2)}
    if stale["code"] != office.code("teller"):
        assert_problem(client.post(f"{API}/auth/login", json=stale), "staff_invalid_credentials")
    headers = {"Authorization": f"Bearer {response.json()['token']}"}
    assert client.get(f"{API}/me", headers=headers).json()["role"] == "teller"
    assert client.post(f"{API}/auth/logout", headers=headers).status_code == 204
    assert_problem(client.get(f"{API}/me", headers=headers), "staff_not_authenticated", 401)
    outcomes = [r.outcome for r in _audit(office.bank, "staff_sign_in")]
    assert outcomes.count("success") == 1 and outcomes.count("failure") >= 4
    assert len(_audit(office.bank, "staff_sign_out")) == 1
    assert run_read(office.bank.db, verify_chain) == []


def test_five_failures_lock_the_staff_account(office: Office) -> None:
    client = office.bank.client
    for _ in range(5):
        client.post(
            f"{API}/auth/login",
            json={"username": "teller", "password": "wrong-password", "code": "123456"},
        )
    right = {
        "username": "teller", "password": seed.DEMO_STAFF_PASSWORD, "code": office.code("teller")
    }
    assert_problem(client.post(f"{API}/auth/login", json=right), "staff_locked", 423)
    office.bank.clock.advance(minutes=31)
    right["code"] = office.code("teller")
    assert client.post(f"{API}/auth/login", json=right).status_code == 200


def test_session_times_out_when_idle(office: Office) -> None:
    headers = office.sign_in("auditor")
    office.bank.clock.advance(minutes=14)
    assert office.bank.client.get(f"{API}/me", headers=headers).status_code == 200
    office.bank.clock.advance(minutes=16)
    assert_problem(
        office.bank.client.get(f"{API}/me", headers=headers), "staff_not_authenticated", 401
    )


def test_new_staff_enrol_their_authenticator_once_at_first_sign_in(office: Office) -> None:
    client = office.bank.client
    admin = office.sign_in("admin")
    made = client.post(
        f"{API}/staff", json={"username": "newteller", "name": "新柜员", "role": "teller"},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    password = made.json()["initial_password"]
    first = client.post(
        f"{API}/auth/login", json={"username": "newteller", "password": password}
    ).json()
    assert first["status"] == "enrolment_required" and first["token"] is None
    secret = first["totp_secret"]
    assert first["otpauth_uri"].startswith("otpauth://totp/") and secret in first["otpauth_uri"]
    stored = run_read(
        office.bank.db,
        lambda s: s.scalar(select(StaffUser.totp_secret).where(StaffUser.username == "newteller")),
    )
    assert stored and secret not in stored  # encrypted at rest
    own = "Houtai-Own-2026"
    enrolment = {"enrolment_token": first["enrolment_token"], "new_password": own}
    wrong = client.post(f"{API}/auth/enrol", json={**enrolment, "code": "99999"})
    assert_problem(wrong, "staff_invalid_credentials")
    code = pyotp.TOTP(secret).at(office.bank.clock.now())
    # The one-time password is replaced by one of their own, which the policy checks.
    weak = client.post(f"{API}/auth/enrol", json={**enrolment, "new_password": "12345678",
                                                   "code": code})
    assert_problem(weak, "weak_password")
    same = client.post(f"{API}/auth/enrol", json={**enrolment, "new_password": password,
                                                   "code": code})
    assert_problem(same, "password_reused")
    done = client.post(f"{API}/auth/enrol", json={**enrolment, "code": code})
    assert done.status_code == 200 and done.json()["status"] == "signed_in"
    # Enrolled: the secret is never shown again, the one-time password and the enrolment
    # token are spent.
    office.bank.clock.advance(seconds=30)
    now_code = pyotp.TOTP(secret).at(office.bank.clock.now())
    assert_problem(
        client.post(f"{API}/auth/login",
                    json={"username": "newteller", "password": password, "code": now_code}),
        "staff_invalid_credentials",
    )
    again = client.post(
        f"{API}/auth/login",
        json={"username": "newteller", "password": own, "code": now_code},
    ).json()
    assert again["status"] == "signed_in" and again["totp_secret"] is None
    assert_problem(
        client.post(f"{API}/auth/enrol", json={**enrolment, "code": code}),
        "enrolment_not_found",
    )


# --- the back office and the customer site share no session ---------------------------


def test_customer_and_staff_sessions_open_only_their_own_site(office: Office) -> None:
    bank = office.bank
    client = bank.client
    customer = bank.headers["zhangwei"]
    assert_problem(client.get(f"{API}/me", headers=customer), "staff_not_authenticated", 401)
    teller = office.sign_in("teller")
    assert_problem(client.get("/api/v1/accounts", headers=teller), "not_authenticated", 401)
    # The customer's session cookie does not open /admin; the staff cookie, the customer site.
    customer_token = customer["Authorization"].removeprefix("Bearer ")
    client.cookies.set("wy_session", customer_token)
    assert client.get("/admin", follow_redirects=False).headers["location"] == "/admin/login"
    client.cookies.clear()
    staff_token = teller["Authorization"].removeprefix("Bearer ")
    client.cookies.set("wy_admin", staff_token)
    assert client.get("/admin", follow_redirects=False).status_code == 200
    assert client.get("/accounts", follow_redirects=False).headers["location"] == "/login"
    # A bearer token does not open the pages, nor a cookie the API.
    assert_problem(client.get(f"{API}/me"), "staff_not_authenticated", 401)
    client.cookies.clear()


def test_staff_cookie_is_its_own_and_forms_need_the_csrf_token(office: Office) -> None:
    client = office.bank.client
    page = client.get("/admin/login")
    assert page.status_code == 200
    response = client.post(
        "/admin/login",
        data={
            "csrf_token": client.cookies.get("wy_csrf") or "",
            "username": "supervisor",
            "staff_password": seed.DEMO_STAFF_PASSWORD,
            "totp_code": office.code("supervisor"),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("wy_admin=")
    assert "Path=/admin" in cookie and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    # A form without the session's CSRF token is refused, with it accepted.
    refused = client.post("/admin/logout", data={}, follow_redirects=False)
    assert refused.status_code == 403
    home = client.get("/admin")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
    assert csrf
    out = client.post("/admin/logout", data={"csrf_token": csrf.group(1)}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/admin", follow_redirects=False).status_code == 303
    client.cookies.clear()


# --- finding customers, masked, and the audited reveal -------------------------------


def test_find_a_customer_by_id_number_mobile_card_or_account_masked(office: Office) -> None:
    bank = office.bank
    teller = office.sign_in("teller")
    customer = run_read(bank.db, lambda s: s.get_one(Customer, bank.a.customer.id))
    mobile, id_number = customer.mobile, customer.id_number
    for by, q in (
        ("id_number", id_number),
        ("mobile", mobile),
        ("card", bank.a.card_number),
        ("account", bank.a.account.account_number),
    ):
        found = bank.client.get(f"{API}/customers", params={"by": by, "q": q}, headers=teller)
        assert found.status_code == 200, found.text
        assert [c["customer_id"] for c in found.json()] == [customer.public_id], by
        assert id_number not in found.text and mobile not in found.text
    none = bank.client.get(f"{API}/customers", params={"by": "mobile", "q": "13000000000"},
                           headers=teller)
    assert none.json() == []

    profile = bank.client.get(f"{API}/customers/{customer.public_id}", headers=teller)
    assert profile.status_code == 200
    body = profile.json()
    assert body["revealed"] is False and body["online_banking"]["username"] == "zhangwei"
    for secret in (id_number, mobile, bank.a.card_number, bank.a.account.account_number):
        assert secret not in profile.text
    assert body["logins"] and body["operations"] and body["devices"]

    assert_problem(
        bank.client.post(f"{API}/customers/{customer.public_id}/reveal", json={"reason": ""},
                         headers=teller),
        "reason_required",
    )
    revealed = bank.client.post(
        f"{API}/customers/{customer.public_id}/reveal",
        json={"reason": "customer asks to check the card number"}, headers=teller,
    )
    assert revealed.status_code == 200
    assert revealed.json()["id_number"] == id_number
    assert bank.a.card_number in revealed.text
    [record] = _audit(bank, "staff_customer_revealed")
    assert record.customer_id == customer.id and record.actor.startswith("staff:")
    assert json.loads(record.details) == {"reason": "customer asks to check the card number"}
    assert id_number not in record.details
    assert len(_audit(bank, "staff_customer_viewed")) == 1
    searches = _audit(bank, "staff_customer_searched")
    assert [json.loads(r.details) for r in searches][:4] == [
        {"by": by, "found": 1} for by in ("id_number", "mobile", "card", "account")
    ]
    assert all(id_number not in r.details and mobile not in r.details for r in searches)


# --- maker-checker ------------------------------------------------------------------


def test_upgrade_needs_a_teller_and_a_different_supervisor(office: Office) -> None:
    bank = office.bank
    customer = bank.c.customer.public_id  # 王芳, public edition
    teller, supervisor, risk = (office.sign_in(u) for u in ("teller", "supervisor", "risk"))
    assert_problem(office.propose(teller, customer, "upgrade_professional"), "validation_error")
    made = office.propose(
        teller, customer, "upgrade_professional", {"confirmation": "GM-2026-0042"}
    )
    assert made.status_code == 201, made.text
    command = made.json()
    assert command["status"] == "PENDING" and command["maker"] == "teller"
    assert _user(bank, "wangfang").edition == "public"
    # The supervisor proposes nothing of this kind; the risk officer may not approve it.
    assert_problem(office.propose(supervisor, customer, "upgrade_professional"), "staff_forbidden")
    assert_problem(office.approve(risk, command["public_id"]), "staff_forbidden", 403)
    assert_problem(office.approve(teller, command["public_id"]), "staff_forbidden", 403)
    assert_problem(
        bank.client.post(f"{API}/commands/{command['public_id']}/approve", json={"reason": ""},
                         headers=supervisor),
        "reason_required",
    )
    done = office.approve(supervisor, command["public_id"])
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "EXECUTED" and done.json()["checker"] == "supervisor"
    assert _user(bank, "wangfang").edition == "professional"
    assert_problem(office.approve(supervisor, command["public_id"]), "command_not_pending", 409)
    events = [r.event for r in run_read(bank.db, lambda s: list(s.scalars(
        select(AuditRecord).where(AuditRecord.customer_id == bank.c.customer.id)
        .order_by(AuditRecord.seq)
    )))]
    assert events[-4:] == [
        "command_proposed", "command_approved", "edition_upgraded", "command_executed"
    ]
    assert_problem(
        office.propose(teller, customer, "upgrade_professional", {"confirmation": "x"}),
        "already_professional",
    )


def test_nobody_approves_their_own_and_a_rejection_changes_nothing(office: Office) -> None:
    bank = office.bank
    risk, supervisor = office.sign_in("risk"), office.sign_in("supervisor")
    customer = bank.a.customer.public_id
    frozen = office.propose(risk, customer, "freeze", {"scope": "all"})
    assert frozen.json()["status"] == "EXECUTED"  # protective: no checker
    assert _user(bank, "zhangwei").freeze == "all"
    unfreeze = office.propose(risk, customer, "unfreeze").json()
    assert unfreeze["status"] == "PENDING"
    assert_problem(office.approve(risk, unfreeze["public_id"]), "own_command", 403)
    rejected = bank.client.post(
        f"{API}/commands/{unfreeze['public_id']}/reject",
        json={"reason": "customer could not be reached"}, headers=supervisor,
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "REJECTED"
    assert _user(bank, "zhangwei").freeze == "all"
    assert_problem(office.approve(supervisor, unfreeze["public_id"]), "command_not_pending")
    second = office.propose(risk, customer, "unfreeze").json()
    assert office.approve(supervisor, second["public_id"]).json()["status"] == "EXECUTED"
    assert _user(bank, "zhangwei").freeze == "none"


def test_counter_freezes_transfers_and_unlocks_a_login(office: Office) -> None:
    bank = office.bank
    teller = office.sign_in("teller")
    office.propose(teller, bank.b.customer.public_id, "freeze", {"scope": "transfers"})
    assert _user(bank, "lina").freeze == "transfers"
    [record] = _audit(bank, "frozen")
    assert record.actor.startswith("staff:")
    for _ in range(5):
        bank.client.post("/api/v1/auth/login", json={"login": "lina", "password": "wrong-1A!"})
    locked = bank.client.post(
        "/api/v1/auth/login", json={"login": "lina", "password": DEFAULT_PASSWORD}
    )
    assert locked.status_code == 423
    unlocked = office.propose(teller, bank.b.customer.public_id, "unlock_login")
    assert unlocked.json()["status"] == "EXECUTED"
    assert bank.login("lina")["Authorization"]
    [record] = _audit(bank, "login_unlocked")
    assert record.actor.startswith("staff:")


def test_limits_change_within_the_bank_maxima_after_approval(office: Office) -> None:
    bank = office.bank
    teller, supervisor = office.sign_in("teller"), office.sign_in("supervisor")
    customer = bank.a.customer.public_id
    maximum = bank.settings.single_transfer_limit_minor
    too_high = f"{(maximum + 100) // 100}.00"
    assert_problem(
        office.propose(teller, customer, "set_limits", {"single": too_high, "daily": "1000.00"}),
        "limit_above_bank_maximum",
    )
    command = office.propose(
        teller, customer, "set_limits", {"single": "800.00", "daily": "2000.00"}
    ).json()
    assert command["payload"] == {"single_minor": 800_00, "daily_minor": 2000_00}
    assert office.approve(supervisor, command["public_id"]).status_code == 200
    user = _user(bank, "zhangwei")
    assert (user.single_limit_minor, user.daily_limit_minor) == (800_00, 2000_00)


def test_pin_reset_is_finished_by_the_customer_with_a_texted_code(office: Office) -> None:
    bank = office.bank
    teller, supervisor = office.sign_in("teller"), office.sign_in("supervisor")
    # The identity check: the ID card presented must be the customer's.
    assert_problem(
        office.propose(teller, bank.a.customer.public_id, "reset_pin",
                       {"presented_id_number": bank.b.customer.id_number}),
        "wrong_id_number",
    )
    command = office.propose(
        teller, bank.a.customer.public_id, "reset_pin",
        {"presented_id_number": bank.a.customer.id_number},
    ).json()
    assert command["payload"] == {"identity_checked": True}  # the number is not kept
    approved = office.approve(supervisor, command["public_id"])
    assert approved.status_code == 200
    mobile = run_read(bank.db, lambda s: s.get_one(Customer, bank.a.customer.id).mobile)
    texts = run_read(
        bank.db,
        lambda s: [notify.body_of(m) for m in notify.messages_to(s, phone=mobile)
                   if m.purpose == "pin_reset"],
    )
    found = re.search(r"\b(\d{8})\b", texts[0])
    assert found
    code = found.group(1)
    # Staff never see the code: not in any answer they got, nor in the audit chain.
    assert code not in approved.text and code not in command.__repr__()
    records = run_read(bank.db, lambda s: list(s.scalars(select(AuditRecord.details))))
    assert all(code not in d for d in records)
    wrong = bank.client.post(
        "/api/v1/pin-reset",
        json={"login": "zhangwei", "code": "00000000" if code != "00000000" else "1",
              "new_pin": "369258"},
    )
    assert_problem(wrong, "pin_reset_invalid")
    done = bank.client.post(
        "/api/v1/pin-reset", json={"login": "zhangwei", "code": code, "new_pin": "369258"}
    )
    assert done.status_code == 204, done.text
    user = _user(bank, "zhangwei")
    assert verify_password(user.transaction_pin_hash, "369258")
    assert not verify_password(user.transaction_pin_hash, DEFAULT_PIN)
    again = bank.client.post(
        "/api/v1/pin-reset", json={"login": "zhangwei", "code": code, "new_pin": "147369"}
    )
    assert_problem(again, "pin_reset_invalid")


def test_closing_online_banking_ends_sessions_and_logins(office: Office) -> None:
    bank = office.bank
    teller, supervisor = office.sign_in("teller"), office.sign_in("supervisor")
    command = office.propose(teller, bank.b.customer.public_id, "close_online_banking").json()
    assert bank.client.get("/api/v1/accounts", headers=bank.headers["lina"]).status_code == 200
    office.approve(supervisor, command["public_id"])
    assert bank.client.get("/api/v1/accounts", headers=bank.headers["lina"]).status_code == 401
    refused = bank.client.post(
        "/api/v1/auth/login", json={"login": "lina", "password": DEFAULT_PASSWORD}
    )
    assert refused.status_code in (401, 403)


def test_administrator_manages_staff_but_sees_no_customer(office: Office) -> None:
    bank = office.bank
    admin = office.sign_in("admin")
    customer = bank.a.customer.public_id
    assert_problem(bank.client.get(f"{API}/customers/{customer}", headers=admin),
                   "staff_forbidden", 403)
    assert_problem(office.approve(admin, "whatever"), "staff_forbidden", 403)
    members = bank.client.get(f"{API}/staff", headers=admin).json()
    teller = next(m for m in members if m["username"] == "teller")
    assert bank.client.post(f"{API}/staff/{teller['public_id']}/disable",
                            headers=admin).status_code == 204
    refused = bank.client.post(
        f"{API}/auth/login",
        json={"username": "teller", "password": seed.DEMO_STAFF_PASSWORD,
              "code": office.code("teller")},
    )
    assert_problem(refused, "staff_invalid_credentials")
    reset = bank.client.post(f"{API}/staff/{teller['public_id']}/reset", headers=admin)
    first = bank.client.post(
        f"{API}/auth/login",
        json={"username": "teller", "password": reset.json()["initial_password"]},
    )
    assert first.json()["status"] == "enrolment_required"
    auditor = office.sign_in("auditor")
    trail = bank.client.get(f"{API}/audit", headers=auditor).json()
    assert {"staff_disabled", "staff_reset"} <= {r["event"] for r in trail}


def test_break_glass_cli_upgrade_is_audited(bank: Bank, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from wangyin.cli import app

    monkeypatch.setenv("WANGYIN_DATABASE_URL", str(bank.db.engine.url))
    result = CliRunner().invoke(app, ["admin", "upgrade", "wangfang"])
    assert result.exit_code == 0, result.output
    assert _user(bank, "wangfang").edition == "professional"
    [record] = _audit(bank, "edition_upgraded")
    assert record.actor.startswith("cli:") and json.loads(record.details)["break_glass"] is True


def test_admin_only_app_serves_the_back_office_and_health_only(bank: Bank) -> None:
    from fastapi.testclient import TestClient

    from wangyin.app import create_app

    settings = bank.settings.model_copy(update={"admin_only": True})
    app = create_app(settings, db=bank.db, clock=bank.clock)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/admin/login").status_code == 200
        assert client.get("/login").status_code == 404
        assert client.post("/api/v1/auth/login", json={}).status_code == 404
        assert client.post("/api/v1/pin-reset", json={}).status_code == 404
        assert client.get(f"{API}/me").status_code == 401


def test_page_refusals_show_in_the_back_office_layout(office: Office) -> None:
    bank = office.bank
    client = bank.client
    service = office.sign_in("service")
    client.cookies.set("wy_admin", service["Authorization"].removeprefix("Bearer "),
                       path="/admin")
    csrf = office.csrf_of(service)
    customer = bank.c.customer.public_id
    forbidden = client.post(
        f"/admin/customers/{customer}/commands/upgrade_professional",
        data={"csrf_token": csrf, "reason": "not mine to do", "confirmation": "GM-1"},
    )
    assert forbidden.status_code == 403
    assert 'data-code="staff_forbidden"' in forbidden.text and "/admin/logout" in forbidden.text
    invalid = client.post(
        f"/admin/customers/{customer}/commands/freeze",
        data={"csrf_token": csrf, "reason": "lost phone", "scope": "nothing"},
    )
    assert invalid.status_code == 422 and 'data-code="validation_error"' in invalid.text
    no_csrf = client.post(
        f"/admin/customers/{customer}/commands/freeze", data={"reason": "lost phone"}
    )
    assert no_csrf.status_code == 403 and 'data-code="csrf_failed"' in no_csrf.text
    frozen = client.post(
        f"/admin/customers/{customer}/commands/freeze",
        data={"csrf_token": csrf, "reason": "lost phone", "scope": "all"},
        follow_redirects=False,
    )
    assert frozen.status_code == 303 and frozen.headers["location"].endswith("notice=executed")
    assert _user(bank, "wangfang").freeze == "all"
    client.cookies.clear()


def test_session_ends_after_its_absolute_lifetime_however_active(office: Office) -> None:
    headers = office.sign_in("auditor")
    for _ in range(42):  # 42 x 14 min = 9 h 48 min of activity
        office.bank.clock.advance(minutes=14)
        assert office.bank.client.get(f"{API}/me", headers=headers).status_code == 200
    office.bank.clock.advance(minutes=14)
    assert_problem(
        office.bank.client.get(f"{API}/me", headers=headers), "staff_not_authenticated", 401
    )


def test_sign_in_is_limited_per_ip(office: Office) -> None:
    client = office.bank.client
    limit = office.bank.settings.ratelimit_login_per_ip
    codes = [
        client.post(f"{API}/auth/login",
                    json={"username": "nobody", "password": "x", "code": ""}).status_code
        for _ in range(limit + 1)
    ]
    # The IP's customer logins (the fixture's) count in the same bucket.
    assert codes[-1] == 429 and set(codes[: codes.index(429)]) == {401}


def test_an_enrolment_expires_after_ten_minutes(office: Office) -> None:
    client = office.bank.client
    admin = office.sign_in("admin")
    made = client.post(
        f"{API}/staff", json={"username": "late", "name": "迟到", "role": "auditor"},
        headers=admin,
    ).json()
    first = client.post(
        f"{API}/auth/login", json={"username": "late", "password": made["initial_password"]}
    ).json()
    office.bank.clock.advance(minutes=11)
    code = pyotp.TOTP(first["totp_secret"]).at(office.bank.clock.now())
    late = client.post(
        f"{API}/auth/enrol",
        json={"enrolment_token": first["enrolment_token"], "code": code,
              "new_password": "Late-But-Strong-1"},
    )
    assert_problem(late, "enrolment_not_found", 404)


def _open_pin_reset(office: Office) -> None:
    teller, supervisor = office.sign_in("teller"), office.sign_in("supervisor")
    command = office.propose(
        teller, office.bank.a.customer.public_id, "reset_pin",
        {"presented_id_number": office.bank.a.customer.id_number},
    ).json()
    assert office.approve(supervisor, command["public_id"]).status_code == 200


def test_a_pin_reset_allows_five_tries_and_thirty_minutes(office: Office) -> None:
    bank = office.bank
    _open_pin_reset(office)
    wrong = {"login": "zhangwei", "code": "1234567", "new_pin": "369258"}  # 7 digits: never
    for _ in range(5):
        assert_problem(bank.client.post("/api/v1/pin-reset", json=wrong), "pin_reset_invalid")
    mobile = run_read(bank.db, lambda s: s.get_one(Customer, bank.a.customer.id).mobile)

    def code_texted() -> str:
        texts = run_read(
            bank.db,
            lambda s: [notify.body_of(m) for m in notify.messages_to(s, phone=mobile)
                       if m.purpose == "pin_reset"],
        )
        found = re.search(r"\b(\d{8})\b", texts[0])
        assert found
        return found.group(1)

    spent = {**wrong, "code": code_texted()}
    assert_problem(bank.client.post("/api/v1/pin-reset", json=spent), "pin_reset_invalid")
    _open_pin_reset(office)
    bank.clock.advance(minutes=31)
    expired = {**wrong, "code": code_texted()}
    assert_problem(bank.client.post("/api/v1/pin-reset", json=expired), "pin_reset_invalid")
    assert verify_password(_user(bank, "zhangwei").transaction_pin_hash, DEFAULT_PIN)


def test_serve_has_an_admin_only_switch() -> None:
    from typer.testing import CliRunner

    from wangyin.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert "--admin-only" in result.output


def test_the_customer_finishes_a_pin_reset_on_the_page(office: Office) -> None:
    bank = office.bank
    _open_pin_reset(office)
    mobile = run_read(bank.db, lambda s: s.get_one(Customer, bank.a.customer.id).mobile)
    text = run_read(
        bank.db,
        lambda s: next(notify.body_of(m) for m in notify.messages_to(s, phone=mobile)
                       if m.purpose == "pin_reset"),
    )
    found = re.search(r"\b(\d{8})\b", text)
    assert found
    client = bank.client
    assert client.get("/pin-reset").status_code == 200
    form = {"csrf_token": client.cookies.get("wy_csrf") or "", "login": "zhangwei",
            "code": found.group(1), "new_pin": "369258", "new_pin_again": "369250"}
    mismatch = client.post("/pin-reset", data=form)
    assert mismatch.status_code == 422 and 'id="form-error"' in mismatch.text
    done = client.post("/pin-reset", data={**form, "new_pin_again": "369258"})
    assert done.status_code == 200 and 'id="done"' in done.text
    assert verify_password(_user(bank, "zhangwei").transaction_pin_hash, "369258")
