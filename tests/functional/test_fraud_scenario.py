"""The fraud scenario of issue 7 §6 over HTTP: stolen credentials used from a new device at
03:00 Beijing time to pay a new payee a large sum. The engine holds the transfer (nothing
moves), the customer is texted, a `fraud_hold` case is opened; a risk officer releases it
(the money moves exactly once) or, in a second run, refuses it (nothing moves)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from factories.bank import DEFAULT_PIN
from functional.conftest import Bank, assert_problem
from functional.test_backoffice_api import USER_OF_ROLE, seed_office
from functional.test_risk_cases import _page
from wangyin.fraud.models import FraudEvent
from wangyin.ledger.models import JournalEntry
from wangyin.notify import service as notify
from wangyin.payments.models import TransferRequest
from wangyin.risk.models import RiskCase
from wangyin.uow import run_read
from wangyin.web.context import SESSION_COOKIE

# 03:00 on 3 March in Beijing (the fixture's customers bound their phones on 2 March).
NIGHT = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)
FRAUD = "/api/admin/v1/fraud"


def _texts(bank: Bank, mobile: str) -> list[str]:
    return run_read(
        bank.db, lambda s: [notify.body_of(m) for m in notify.messages_to(s, phone=mobile)]
    )


def _stolen_transfer(bank: Bank) -> tuple[str, dict[str, str]]:
    """The thief signs in with the stolen password from their own phone (answering the
    new-device challenge with the intercepted code and the ID number) and pays 李娜, whom
    张伟 never paid, 6,000.00 of his 10,000.00."""
    bank.clock.set(NIGHT)
    thief = bank.login(bank.a.username, device="thief-phone")
    prepared = bank.client.post(
        "/api/v1/transfers",
        json={
            "from_account_id": bank.a.account.public_id,
            "to_account_number": bank.b.account.account_number,
            "payee_name": bank.b.name,
            "amount": "6000.00",
            "currency": "CNY",
            "remark": "",
        },
        headers={**thief, "Idempotency-Key": "thief-prepare"},
    )
    assert prepared.status_code == 201, prepared.text
    tid = prepared.json()["id"]
    sent = bank.client.post(f"/api/v1/transfers/{tid}/code", headers=thief)
    assert sent.status_code == 204, sent.text
    confirmed = bank.client.post(
        f"/api/v1/transfers/{tid}/confirm",
        json={"transaction_password": DEFAULT_PIN, "code": bank.last_code(bank.a.customer.mobile)},
        headers={**thief, "Idempotency-Key": "thief-confirm"},
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "HELD"
    return tid, thief


def _held_state(bank: Bank, tid: str, before: dict[str, str]) -> None:
    """Nothing moved, the customer was told, a case was opened."""
    assert bank.balances() == before
    assert any("审核中" in t for t in _texts(bank, bank.a.customer.mobile))
    cases = run_read(
        bank.db,
        lambda s: list(s.scalars(select(RiskCase).where(RiskCase.reference == tid))),
    )
    assert [c.kind for c in cases] == ["fraud_hold"]
    assert "new_device" in cases[0].notes and "odd_hour" in cases[0].notes
    # The customer (on their own phone) sees it under review.
    seen = bank.client.get(f"/api/v1/transfers/{tid}", headers=bank.headers[bank.a.username])
    assert seen.json()["status"] == "HELD"
    token = bank.headers[bank.a.username]["Authorization"].removeprefix("Bearer ")
    bank.client.cookies.set(SESSION_COOKIE, token)
    try:
        page = bank.client.get(f"/transfer/{tid}", follow_redirects=False)
    finally:
        bank.client.cookies.clear()
    assert page.status_code == 200, page.status_code
    assert "审核中" in page.text and 'id="held-note"' in page.text


def _entries(bank: Bank, tid: str) -> int:
    return int(
        run_read(
            bank.db,
            lambda s: s.scalar(
                select(func.count(JournalEntry.id)).where(
                    JournalEntry.idempotency_key == f"transfer:{tid}"
                )
            ),
        )
    )


def test_stolen_credentials_held_then_released_once(bank: Bank) -> None:
    before = bank.balances()
    tid, _ = _stolen_transfer(bank)
    _held_state(bank, tid, before)
    assert _entries(bank, tid) == 0

    office = seed_office(bank)
    officer = office.sign_in(USER_OF_ROLE["risk_officer"])
    listed = bank.client.get(f"{FRAUD}/holds", headers=officer)
    assert [h["transfer_id"] for h in listed.json()] == [tid]
    assert set(listed.json()[0]["rules"]) >= {"new_device", "odd_hour", "new_payee_large"}
    # An auditor may look, not decide.
    auditor = office.sign_in(USER_OF_ROLE["auditor"])
    assert bank.client.get(f"{FRAUD}/holds/{tid}", headers=auditor).status_code == 200
    assert_problem(
        bank.client.post(f"{FRAUD}/holds/{tid}/release", json={"reason": "ok"}, headers=auditor),
        "staff_forbidden",
        403,
    )

    released = bank.client.post(
        f"{FRAUD}/holds/{tid}/release",
        json={"reason": "customer confirmed by phone"},
        headers=officer,
    )
    assert released.status_code == 200, released.text
    assert released.json()["status"] == "RELEASED"
    assert released.json()["transfer_status"] == "COMPLETED"
    # A second click finds it decided: the money moved once.
    assert_problem(
        bank.client.post(f"{FRAUD}/holds/{tid}/release", json={"reason": "again"}, headers=officer),
        "hold_not_pending",
        409,
    )
    assert _entries(bank, tid) == 1
    after = bank.balances()
    assert after[bank.a.account.account_number] == "4000.00"
    assert after[bank.b.account.account_number] == "6500.00"
    assert any("通过审核" in t for t in _texts(bank, bank.a.customer.mobile))
    seen = bank.client.get(f"/api/v1/transfers/{tid}", headers=bank.headers[bank.a.username])
    assert seen.json()["status"] == "COMPLETED"
    # The statistics page and API count the decision.
    stats = bank.client.get(f"{FRAUD}/stats", headers=officer).json()
    assert stats["decisions"].get("hold") == 1
    assert stats["rule_hits"]["new_payee_large"] >= 1
    page = _page(office, officer, "GET", "/admin/fraud/stats")
    assert page.status_code == 200 and "<svg" in page.text


def test_stolen_credentials_held_then_refused_nothing_moves(bank: Bank) -> None:
    before = bank.balances()
    tid, _ = _stolen_transfer(bank)
    _held_state(bank, tid, before)
    office = seed_office(bank)
    officer = office.sign_in(USER_OF_ROLE["risk_officer"])
    # Through the back-office pages this time: the list, the hold, the refusal form.
    listing = _page(office, officer, "GET", "/admin/fraud/holds")
    assert listing.status_code == 200 and tid in listing.text
    detail = _page(office, officer, "GET", f"/admin/fraud/holds/{tid}")
    assert detail.status_code == 200 and f"/admin/fraud/holds/{tid}/refuse" in detail.text
    done = _page(
        office, officer, "POST", f"/admin/fraud/holds/{tid}/refuse", reason="customer says not me"
    )
    assert done.status_code == 303, done.text
    assert bank.balances() == before
    assert _entries(bank, tid) == 0
    status = run_read(
        bank.db,
        lambda s: s.scalar(select(TransferRequest.status).where(TransferRequest.public_id == tid)),
    )
    assert status == "REFUSED"
    assert any("未予办理" in t for t in _texts(bank, bank.a.customer.mobile))
    # Refused stays refused: releasing now is refused.
    assert_problem(
        bank.client.post(
            f"{FRAUD}/holds/{tid}/release", json={"reason": "changed my mind"}, headers=officer
        ),
        "hold_not_pending",
        409,
    )


def test_a_blacklisted_payee_is_refused_neutrally_and_the_customer_told(bank: Bank) -> None:
    from wangyin.risk import service as risk
    from wangyin.uow import run_write

    run_write(
        bank.db,
        lambda s: risk.add_entry(
            s,
            kind="mobile",
            value=bank.b.customer.mobile,
            reason="mule",
            staff_id="seed",
            at=bank.clock.now(),
        ),
    )
    headers = bank.headers[bank.a.username]
    prepared = bank.client.post(
        "/api/v1/transfers",
        json={
            "from_account_id": bank.a.account.public_id,
            "to_account_number": bank.b.account.account_number,
            "payee_name": bank.b.name,
            "amount": "12.00",
            "currency": "CNY",
            "remark": "",
        },
        headers={**headers, "Idempotency-Key": "bl-prepare"},
    ).json()
    bank.client.post(f"/api/v1/transfers/{prepared['id']}/code", headers=headers)
    refused = bank.client.post(
        f"/api/v1/transfers/{prepared['id']}/confirm",
        json={"transaction_password": DEFAULT_PIN, "code": bank.last_code(bank.a.customer.mobile)},
        headers={**headers, "Idempotency-Key": "bl-confirm"},
    )
    body = assert_problem(refused, "operation_refused", 403)
    assert "黑名单" not in body["detail"]  # neutral: no rule named
    assert any("已被拦截" in t for t in _texts(bank, bank.a.customer.mobile))
    events = run_read(bank.db, lambda s: list(s.scalars(select(FraudEvent))))
    assert [e.decision for e in events] == ["block"]
    cases = run_read(
        bank.db,
        lambda s: list(s.scalars(select(RiskCase).where(RiskCase.transfer_id == prepared["id"]))),
    )
    assert [c.kind for c in cases] == ["blacklist_hit"]
