"""Money needs two factors (4.3.2-b, 4.4-b1, PSD2-RTS-16), customer limits and small
password-free payments (5.1.2-g), self-service freezing (4.4-c1) and the forgotten
password (5.1.1-c), all over HTTP as a customer's app does it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from factories import DEFAULT_PASSWORD
from factories.bank import DEFAULT_PIN
from functional.conftest import Bank, _phone_and_id, assert_problem
from wangyin.config import Settings
from wangyin.identity.models import OtpCode
from wangyin.identity.validators import luhn_check_digit
from wangyin.notify import service as notify
from wangyin.payments.models import TransferRequest
from wangyin.security.models import AuditRecord
from wangyin.uow import run_read

NEW_PASSWORD = "Xin-Mima-2026"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Plain JSON fields, if this build has application-layer channel encryption."""
    if "channel_encryption" in Settings.model_fields:
        return settings.model_copy(update={"channel_encryption": "optional"})
    return settings


def prepare(bank: Bank, amount: str, who: str = "zhangwei") -> Any:
    payee = bank.b if who == "zhangwei" else bank.a
    payer = bank.a if who == "zhangwei" else bank.b
    return bank.client.post(
        "/api/v1/transfers",
        json={
            "from_account_id": payer.account.public_id,
            "to_account_number": payee.account.account_number,
            "payee_name": payee.name,
            "amount": amount,
            "currency": "CNY",
            "remark": "",
        },
        headers={**bank.headers[who], "Idempotency-Key": uuid.uuid4().hex},
    )


def confirm(bank: Bank, tid: str, body: dict[str, Any] | None = None, who: str = "zhangwei") -> Any:
    return bank.client.post(
        f"/api/v1/transfers/{tid}/confirm",
        json=body if body is not None else {},
        headers={**bank.headers[who], "Idempotency-Key": uuid.uuid4().hex},
    )


def send_code(bank: Bank, tid: str, who: str = "zhangwei") -> str:
    sent = bank.client.post(f"/api/v1/transfers/{tid}/code", headers=bank.headers[who])
    assert sent.status_code == 204, sent.text
    mobile, _ = run_read(bank.db, lambda s: _phone_and_id(s, who))
    return bank.last_code(mobile)


def transfer_row(bank: Bank, tid: str) -> TransferRequest:
    return run_read(
        bank.db,
        lambda s: s.scalars(select(TransferRequest).where(TransferRequest.public_id == tid)).one(),
    )


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def put(bank: Bank, path: str, body: dict[str, str], who: str = "zhangwei") -> Any:
    """Change a setting as the customer does: when it goes up, with the texted code."""
    url = f"/api/v1/security/{path}"
    response = bank.client.put(url, json=body, headers=bank.headers[who])
    if response.status_code == 422 and response.json()["code"] == "step_up_required":
        sent = bank.client.post("/api/v1/security/code", json={}, headers=bank.headers[who])
        assert sent.status_code == 204, sent.text
        mobile, _ = _phone_and_id_of(bank, who)
        code = bank.last_code(mobile)
        response = bank.client.put(url, json={**body, "code": code}, headers=bank.headers[who])
    return response


def _phone_and_id_of(bank: Bank, who: str) -> tuple[str, str]:
    return run_read(bank.db, lambda s: _phone_and_id(s, who))


# --- 4.3.2-b, 4.4-b1: PIN + code -----------------------------------------------------------


def test_transfer_confirm_without_pin_and_code_is_refused(bank: Bank) -> None:
    """4.3.2-b, 4.4-b1: no factors, only the PIN, or only the code: `transaction_password_
    required`, and no money moves."""
    before = bank.balances()
    tid = prepare(bank, "100.00").json()["id"]
    assert prepare(bank, "100.00").json()["second_factor_required"] is True
    code = send_code(bank, tid)
    for body in ({}, {"transaction_password": DEFAULT_PIN}, {"code": code}):
        assert_problem(confirm(bank, tid, body), "transaction_password_required", 422)
    assert bank.balances() == before


def test_transfer_confirm_with_wrong_pin_is_refused(bank: Bank) -> None:
    """4.3.2-b: a wrong transaction password is refused (`second_factor_invalid`, the same
    answer as a wrong code, so the reply never tells which factor was right); nothing moves."""
    before = bank.balances()
    tid = prepare(bank, "100.00").json()["id"]
    code = send_code(bank, tid)
    body = {"transaction_password": "999999", "code": code}
    assert_problem(confirm(bank, tid, body), "second_factor_invalid", 422)
    assert bank.balances() == before
    done = confirm(bank, tid, {"transaction_password": DEFAULT_PIN, "code": code})
    assert done.json()["status"] == "COMPLETED"


def test_transfer_wrong_codes_are_counted_and_spend_the_code(bank: Bank) -> None:
    """4.3.2-b, 4.3.1.3-a: each wrong code counts against that code (and is logged as a
    refused attempt); after the third the right code no longer works."""
    tid = prepare(bank, "100.00").json()["id"]
    code = send_code(bank, tid)
    for _ in range(3):
        bad = {"transaction_password": DEFAULT_PIN, "code": wrong(code)}
        assert_problem(confirm(bank, tid, bad), "second_factor_invalid", 422)
    attempts = run_read(bank.db, lambda s: s.scalars(select(OtpCode.attempts)).all())
    assert attempts == [3]
    good = confirm(bank, tid, {"transaction_password": DEFAULT_PIN, "code": code})
    assert good.status_code == 422 and good.json()["code"] in {
        "otp_invalid",
        "otp_too_many_attempts",
        "second_factor_invalid",
    }
    refused = run_read(
        bank.db,
        lambda s: s.scalars(
            select(AuditRecord.details).where(AuditRecord.event == "transfer_refused")
        ).all(),
    )
    assert sum(f'"transfer":"{tid}"' in d for d in refused) >= 3
    # A fresh code for the same transfer works.
    fresh = send_code(bank, tid)
    done = confirm(bank, tid, {"transaction_password": DEFAULT_PIN, "code": fresh})
    assert done.json()["status"] == "COMPLETED"


def test_transfer_refusal_audit_record_says_why(bank: Bank) -> None:
    """4.1.5.2-f, 4.4-c2: a refused transfer attempt is logged with the reason it was refused
    (wrong PIN, wrong code, limit...), so an investigator can reconstruct it."""
    tid = prepare(bank, "100.00").json()["id"]
    code = send_code(bank, tid)
    confirm(bank, tid, {"transaction_password": "999999", "code": code})
    details = run_read(
        bank.db,
        lambda s: s.scalars(
            select(AuditRecord.details).where(AuditRecord.event == "transfer_refused")
        ).all(),
    )
    assert any("second_factor_invalid" in d for d in details), details


def test_transfer_confirmed_with_pin_and_code_is_completed(bank: Bank) -> None:
    """4.3.2-b, 4.4-b1, PSD2-RTS-5: PIN + the code for this transfer: COMPLETED, recorded as
    confirmed with "pin+otp", money moved once."""
    before = bank.balances()
    tid = prepare(bank, "100.00").json()["id"]
    code = send_code(bank, tid)
    done = confirm(bank, tid, {"transaction_password": DEFAULT_PIN, "code": code})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "COMPLETED"
    assert done.json()["second_factor_required"] is True
    assert transfer_row(bank, tid).confirmed_with == "pin+otp"
    after = bank.balances()
    a, b = bank.a.account.account_number, bank.b.account.account_number
    assert (before[a], before[b], after[a], after[b]) == (
        "10000.00",
        "500.00",
        "9900.00",
        "600.00",
    )


# --- 5.1.2-g, PSD2-RTS-16: small password-free payments ----------------------------------


def test_password_free_thresholds_are_capped_by_the_bank_maxima(bank: Bank) -> None:
    """5.1.2-g, PSD2-RTS-16: a customer sets thresholds up to the bank's maxima (1,000 per
    payment, 5,000 a day); above them `limit_above_bank_maximum`."""
    assert_problem(
        put(bank, "password-free", {"single": "1000.01", "daily": "2000"}),
        "limit_above_bank_maximum",
        422,
    )
    assert_problem(
        put(bank, "password-free", {"single": "100", "daily": "5000.01"}),
        "limit_above_bank_maximum",
        422,
    )
    assert put(bank, "password-free", {"single": "1000", "daily": "5000"}).status_code == 204
    limits = bank.client.get("/api/v1/security", headers=bank.headers["zhangwei"]).json()["limits"]
    assert (limits["password_free_single"], limits["password_free_daily"]) == (
        "1000.00",
        "5000.00",
    )
    assert put(bank, "password-free", {"single": "0", "daily": "0"}).status_code == 204


def test_password_free_payment_under_the_threshold_needs_no_factors(bank: Bank) -> None:
    """5.1.2-g, PSD2-RTS-16: under the single threshold the prepare answer says
    second_factor_required=false and a confirm with no PIN and no code completes."""
    assert put(bank, "password-free", {"single": "200", "daily": "500"}).status_code == 204
    prepared = prepare(bank, "150.00").json()
    assert prepared["second_factor_required"] is False
    done = confirm(bank, prepared["id"])
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "COMPLETED"
    assert done.json()["second_factor_required"] is False
    assert transfer_row(bank, prepared["id"]).confirmed_with == "password_free"
    # Over the single threshold the factors are needed again.
    over = prepare(bank, "200.01").json()
    assert over["second_factor_required"] is True
    assert_problem(confirm(bank, over["id"]), "transaction_password_required")


def test_password_free_is_off_by_default(bank: Bank) -> None:
    """5.1.2-g: until the customer turns it on, even 0.01 needs both factors."""
    prepared = prepare(bank, "0.01").json()
    assert prepared["second_factor_required"] is True
    assert_problem(confirm(bank, prepared["id"]), "transaction_password_required")


def test_password_free_daily_cumulative_threshold_is_enforced(bank: Bank) -> None:
    """5.1.2-g, PSD2-RTS-16: what was paid password-free today counts; the payment that would
    take the day over the cumulative threshold needs PIN + code."""
    assert put(bank, "password-free", {"single": "500", "daily": "1000"}).status_code == 204
    for _ in range(2):
        prepared = prepare(bank, "400.00").json()
        assert prepared["second_factor_required"] is False
        assert confirm(bank, prepared["id"]).json()["status"] == "COMPLETED"
    third = prepare(bank, "400.00").json()
    assert third["second_factor_required"] is True
    assert_problem(confirm(bank, third["id"]), "transaction_password_required")
    code = send_code(bank, third["id"])
    done = confirm(bank, third["id"], {"transaction_password": DEFAULT_PIN, "code": code})
    assert done.json()["status"] == "COMPLETED"
    assert transfer_row(bank, third["id"]).confirmed_with == "pin+otp"
    # 200 still fits under the remaining 200 of password-free room.
    assert prepare(bank, "200.00").json()["second_factor_required"] is False


# --- 5.1.2-g: customer limits ----------------------------------------------------------------


def test_customer_limits_apply_to_prepare_and_confirm(bank: Bank) -> None:
    """5.1.2-g: limits set in the security center (within the bank maxima) refuse a prepare
    over them, and are re-checked at confirm time."""
    assert_problem(
        put(bank, "limits", {"single_limit": "5000000.01", "daily_limit": "100"}),
        "limit_above_bank_maximum",
        422,
    )
    assert put(bank, "limits", {"single_limit": "200", "daily_limit": "300"}).status_code == 204
    assert_problem(prepare(bank, "200.01"), "over_single_limit", 422)
    first = prepare(bank, "150.00").json()["id"]
    code = send_code(bank, first)
    assert (
        confirm(bank, first, {"transaction_password": DEFAULT_PIN, "code": code}).json()["status"]
        == "COMPLETED"
    )
    assert_problem(prepare(bank, "150.01"), "over_daily_limit", 422)
    pending = prepare(bank, "100.00").json()["id"]
    code = send_code(bank, pending)
    assert put(bank, "limits", {"single_limit": "50", "daily_limit": "300"}).status_code == 204
    assert_problem(
        confirm(bank, pending, {"transaction_password": DEFAULT_PIN, "code": code}),
        "over_single_limit",
    )
    limits = bank.client.get("/api/v1/security", headers=bank.headers["zhangwei"]).json()["limits"]
    assert (limits["single_limit"], limits["daily_limit"]) == ("50.00", "300.00")


# --- 4.4-c1: freeze ----------------------------------------------------------------------------


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


def unfreeze(bank: Bank, code: str, who: str = "zhangwei") -> Any:
    """The code and the transaction password (issue 11 #13: the code alone is not enough)."""
    return bank.client.post(
        "/api/v1/security/unfreeze",
        json={"code": code, "transaction_password": DEFAULT_PIN},
        headers=bank.headers[who],
    )


def test_freeze_transfers_refuses_transfers_but_accounts_stay_readable(bank: Bank) -> None:
    """4.4-c1: "freeze transfers" refuses prepare (and confirming one prepared before) with
    `transfers_frozen`; balances and history still read."""
    earlier = prepare(bank, "10.00").json()["id"]
    code = send_code(bank, earlier)
    freeze(bank, "transfers")
    assert_problem(prepare(bank, "10.00"), "transfers_frozen", 403)
    assert_problem(
        confirm(bank, earlier, {"transaction_password": DEFAULT_PIN, "code": code}),
        "transfers_frozen",
        403,
    )
    accounts = bank.client.get("/api/v1/accounts", headers=bank.headers["zhangwei"])
    assert accounts.status_code == 200
    me = bank.client.get("/api/v1/me", headers=bank.headers["zhangwei"]).json()
    assert me["freeze"] == "transfers"


def test_freeze_all_refuses_accounts_but_security_center_works(bank: Bank) -> None:
    """4.4-c1: "freeze all" refuses account reads (`account_frozen`); the security center,
    /me and logout still work, and a code unfreezes."""
    freeze(bank, "all")
    headers = bank.headers["zhangwei"]
    for path in ("/api/v1/accounts", f"/api/v1/accounts/{bank.a.account.public_id}"):
        assert_problem(bank.client.get(path, headers=headers), "account_frozen", 403)
    assert_problem(prepare(bank, "10.00"), "account_frozen", 403)
    assert bank.client.get("/api/v1/security", headers=headers).json()["freeze"] == "all"
    assert bank.client.get("/api/v1/security/log", headers=headers).status_code == 200
    # A fresh login still works so the customer can reach the security center.
    fresh = bank.login("zhangwei")
    assert bank.client.get("/api/v1/security", headers=fresh).status_code == 200
    assert unfreeze(bank, unfreeze_code(bank)).status_code == 204
    assert bank.client.get("/api/v1/accounts", headers=headers).status_code == 200
    assert bank.client.get("/api/v1/security", headers=headers).json()["freeze"] == "none"


def test_unfreeze_with_a_wrong_code_is_refused(bank: Bank) -> None:
    """4.4-c1: unfreezing needs the texted code; a wrong one is refused and it stays frozen."""
    freeze(bank, "transfers")
    code = unfreeze_code(bank)
    assert_problem(unfreeze(bank, wrong(code)), "otp_invalid", 422)
    assert_problem(prepare(bank, "10.00"), "transfers_frozen", 403)
    assert unfreeze(bank, code).status_code == 204
    assert prepare(bank, "10.00").status_code == 201


# --- 5.1.1-c: forgotten password --------------------------------------------------------------


def start_reset(bank: Bank, id_number: str, card: str) -> Any:
    return bank.client.post(
        "/api/v1/auth/password/reset", json={"id_number": id_number, "card_number": card}
    )


def test_forgot_password_resets_with_id_card_and_code_and_ends_every_session(bank: Bank) -> None:
    """5.1.1-c, 5.1.1-d: ID number + own card + the texted code set a new password; every
    session of the customer ends; the old password fails and the new one works."""
    mobile, id_number = run_read(bank.db, lambda s: _phone_and_id(s, "lina"))
    other = bank.login("lina")
    started = start_reset(bank, id_number, bank.b.card_number)
    assert started.status_code == 200, started.text
    challenge = started.json()["challenge_id"]
    code = bank.last_code(mobile)
    finish = bank.client.post(
        "/api/v1/auth/password/reset/finish",
        json={"challenge_id": challenge, "code": code, "new_password": NEW_PASSWORD},
    )
    assert finish.status_code == 204, finish.text
    for headers in (bank.headers["lina"], other):
        assert_problem(bank.client.get("/api/v1/me", headers=headers), "not_authenticated", 401)
    old = bank.client.post(
        "/api/v1/auth/login", json={"login": "lina", "password": DEFAULT_PASSWORD}
    )
    assert_problem(old, "invalid_credentials", 401)
    assert bank.login("lina", password=NEW_PASSWORD)["Authorization"].startswith("Bearer ")
    # The code was single-use: the same challenge cannot reset again.
    again = bank.client.post(
        "/api/v1/auth/password/reset/finish",
        json={"challenge_id": challenge, "code": code, "new_password": "Andere-Mima-77"},
    )
    assert again.status_code in (404, 422)


def test_forgot_password_with_a_card_that_is_not_theirs_is_refused(bank: Bank) -> None:
    """5.1.1-c: another customer's card (or none of ours) answers `card_not_found`, and no
    code is sent."""
    mobile, id_number = run_read(bank.db, lambda s: _phone_and_id(s, "lina"))
    assert_problem(start_reset(bank, id_number, bank.a.card_number), "card_not_found", 422)
    unknown = "622202020011223344" + luhn_check_digit("622202020011223344")
    assert_problem(start_reset(bank, id_number, unknown), "card_not_found", 422)
    sent = run_read(bank.db, lambda s: notify.messages_to(s, phone=mobile))
    assert not [m for m in sent if m.purpose == "reset"]


def test_guessing_the_pin_needs_the_code_and_five_wrong_pins_freeze_transfers(bank: Bank) -> None:
    """PSD2-RTS-4, ASVS5-6.1.1: the reply does not say which factor was wrong, so a session
    alone is no PIN oracle; without the right code wrong PINs do not count (no malicious
    lockout); with it, the 5th wrong PIN in a row freezes transfers and texts the customer."""
    tid = prepare(bank, "100.00").json()["id"]
    code = send_code(bank, tid)
    for _ in range(2):  # a stranger without the phone: wrong code, any PIN
        bad = {"transaction_password": "999999", "code": wrong(code)}
        assert_problem(confirm(bank, tid, bad), "second_factor_invalid", 422)
    fresh = send_code(bank, tid)
    for attempt in range(5):  # someone with the code guesses the PIN
        response = confirm(bank, tid, {"transaction_password": f"90000{attempt}", "code": fresh})
        if attempt < 4:
            assert_problem(response, "second_factor_invalid", 422)
    me = bank.client.get("/api/v1/me", headers=bank.headers["zhangwei"]).json()
    assert me["freeze"] == "transfers"
    assert "交易密码已连续输错" in bank_sms(bank)
    assert_problem(
        confirm(bank, tid, {"transaction_password": DEFAULT_PIN, "code": fresh}),
        "transfers_frozen",
        403,
    )


def bank_sms(bank: Bank) -> str:
    phone = bank.a.customer.mobile
    return run_read(
        bank.db, lambda s: notify.body_of(notify.messages_to(s, phone=phone, limit=1)[0])
    )


def test_wrong_current_pin_on_pin_change_counts_too(bank: Bank) -> None:
    """PSD2-RTS-4: changing the transaction password is no side door for guessing it: five
    wrong current PINs freeze transfers like five at confirmation."""
    headers = bank.headers["zhangwei"]
    for attempt in range(5):
        response = bank.client.post(
            "/api/v1/security/transaction-password",
            json={
                "old_transaction_password": f"80000{attempt}",
                "new_transaction_password": "362514",
            },
            headers=headers,
        )
        assert_problem(response, "wrong_transaction_password", 422)
    me = bank.client.get("/api/v1/me", headers=headers).json()
    assert me["freeze"] == "transfers"


def test_raising_limits_needs_a_code_lowering_does_not(bank: Bank) -> None:
    """ASVS5-7.5.3: a session alone may lower limits but not raise them or turn on
    password-free payments; a wrong code is refused."""
    headers = bank.headers["zhangwei"]
    lower = {"single_limit": "1000", "daily_limit": "2000"}
    assert (
        bank.client.put("/api/v1/security/limits", json=lower, headers=headers).status_code == 204
    )
    higher = {"single_limit": "5000", "daily_limit": "8000"}
    refused = bank.client.put("/api/v1/security/limits", json=higher, headers=headers)
    assert_problem(refused, "step_up_required", 422)
    turn_on = {"single": "100", "daily": "200"}
    refused = bank.client.put("/api/v1/security/password-free", json=turn_on, headers=headers)
    assert_problem(refused, "step_up_required", 422)
    assert bank.client.post("/api/v1/security/code", json={}, headers=headers).status_code == 204
    code = bank.last_code(bank.a.customer.mobile)
    bad = bank.client.put(
        "/api/v1/security/limits", json={**higher, "code": wrong(code)}, headers=headers
    )
    assert_problem(bad, "otp_invalid", 422)
    ok = bank.client.put("/api/v1/security/limits", json={**higher, "code": code}, headers=headers)
    assert ok.status_code == 204
    limits = bank.client.get("/api/v1/security", headers=headers).json()["limits"]
    assert (limits["single_limit"], limits["daily_limit"]) == ("5000.00", "8000.00")
