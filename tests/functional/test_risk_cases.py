"""Cases over HTTP (issue 7 §5, 4.4-d1, 4.1.5.2-g): a customer files a complaint about
their transfer, a risk officer takes it, contacts the customer, freezes their transfers
through the back office's command and closes it with an outcome; the customer sees the
bank's message and the outcome. The blacklist and the AML review are maker-checker."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from factories import card_of, make_account, make_customer
from factories.transfers import pay
from functional.conftest import Bank, assert_problem
from functional.test_backoffice_api import Office, seed_office
from wangyin.backoffice.context import STAFF_COOKIE
from wangyin.identity.models import User
from wangyin.notify import service as notify
from wangyin.risk import service as risk
from wangyin.risk.models import Declaration, RiskAssessment
from wangyin.uow import run_read, run_write

RISK = "/api/admin/v1/risk"


def _page(office: Office, who: dict[str, str], method: str, url: str, **form: str) -> Any:
    client = office.bank.client
    client.cookies.set(STAFF_COOKIE, who["Authorization"].removeprefix("Bearer "), path="/admin")
    try:
        if method == "GET":
            return client.get(url, follow_redirects=False)
        data = {"csrf_token": office.csrf_of(who), **form}
        return client.post(url, data=data, follow_redirects=False)
    finally:
        client.cookies.clear()


def _sms(bank: Bank, mobile: str) -> list[str]:
    return run_read(
        bank.db, lambda s: [notify.body_of(m) for m in notify.messages_to(s, phone=mobile)]
    )


def test_a_complaint_is_taken_answered_acted_on_and_closed(bank: Bank) -> None:
    transfer = pay(bank.db, bank.a, bank.b, "12.00", at=bank.clock.now(), settings=bank.settings)
    customer = bank.login(bank.a.user.username)
    other = bank.login(bank.b.user.username)
    # Another customer's transfer looks like none.
    assert_problem(
        bank.client.post(
            "/api/v1/complaints",
            json={"subject": "x", "text": "y", "transfer_id": transfer["id"]},
            headers=other,
        ),
        "transfer_not_found",
        404,
    )
    filed = bank.client.post(
        "/api/v1/complaints",
        json={"subject": "转错了", "text": "这笔转账金额有误", "transfer_id": transfer["id"]},
        headers=customer,
    )
    assert filed.status_code == 201, filed.text
    complaint = filed.json()["complaint_id"]
    assert filed.json()["status"] == "received"
    assert_problem(  # nobody else sees it
        bank.client.get(f"/api/v1/complaints/{complaint}", headers=other),
        "complaint_not_found",
        404,
    )

    office = seed_office(bank)
    officer, colleague = office.sign_in("risk"), office.sign_in("supervisor")
    queue = bank.client.get(f"{RISK}/cases", headers=officer).json()
    mine = next(c for c in queue if c["public_id"] == complaint)
    assert mine["kind"] == "complaint" and mine["priority"] == 2 and mine["sla_hours"] == 24
    case_id = mine["id"]
    detail = bank.client.get(f"{RISK}/cases/{case_id}", headers=officer).json()
    assert detail["subject"] == "转错了" and detail["transfer_id"] == transfer["id"]
    assert detail["customer_name"] != bank.a.customer.name  # masked
    shown = _page(office, officer, "GET", f"/admin/risk/cases/{case_id}")
    assert 'id="case-timeline"' in shown.text and "complaint_filed" in shown.text  # 4.4-c2

    # Acting before taking it: a clear conflict.
    assert_problem(
        bank.client.post(
            f"{RISK}/cases/contact", json={"case_id": case_id, "text": "hi"}, headers=officer
        ),
        "case_not_yours",
        409,
    )
    assert bank.client.post(
        f"{RISK}/cases/assign", json={"case_id": case_id}, headers=officer
    ).is_success
    sent = bank.client.post(
        f"{RISK}/cases/contact",
        json={"case_id": case_id, "text": "我们已向收款行核实，请耐心等待。"},
        headers=officer,
    )
    assert sent.status_code == 201, sent.text
    assert any("来自银行的新消息" in m for m in _sms(bank, bank.a.customer.mobile))
    frozen = bank.client.post(
        f"{RISK}/cases/freeze",
        json={"case_id": case_id, "scope": "transfers", "reason": "account takeover suspected"},
        headers=officer,
    )
    assert frozen.status_code == 201 and frozen.json()["kind"] == "freeze", frozen.text
    assert frozen.json()["status"] == "EXECUTED"  # a protective kind: in effect at once
    freeze = run_read(
        bank.db, lambda s: s.scalar(select(User.freeze).where(User.id == bank.a.user.id))
    )
    assert freeze == "transfers"
    assert_problem(  # outcomes come from a fixed list
        bank.client.post(
            f"{RISK}/cases/close", json={"case_id": case_id, "outcome": "whatever"}, headers=officer
        ),
        "validation_error",
        422,
    )
    closed = bank.client.post(
        f"{RISK}/cases/close",
        json={"case_id": case_id, "outcome": "resolved", "comment": "refund agreed"},
        headers=officer,
    )
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert_problem(
        bank.client.post(
            f"{RISK}/cases/note", json={"case_id": case_id, "note": "x"}, headers=officer
        ),
        "case_closed",
        409,
    )
    del colleague

    seen = bank.client.get(f"/api/v1/complaints/{complaint}", headers=customer).json()
    assert seen["status"] == "closed" and seen["outcome"] == "resolved"
    assert [m["sender"] for m in seen["messages"]] == ["customer", "bank"]
    assert (
        bank.client.get("/api/v1/bank-messages", headers=customer)
        .json()[0]["text"]
        .startswith("我们已向收款行核实")
    )


def test_the_customer_files_and_follows_a_complaint_on_the_site(bank: Bank) -> None:
    """The customer-service page: the form, the list with its status, the detail."""
    headers = bank.login(bank.c.user.username)
    token = headers["Authorization"].removeprefix("Bearer ")
    client = bank.client
    client.cookies.set("wy_session", token)
    try:
        shown = client.get("/service/complaints")
        assert shown.status_code == 200 and "投诉与建议" in shown.text
        csrf = shown.text.split('name="csrf_token" value="')[1].split('"')[0]
        empty = client.post(
            "/service/complaints", data={"csrf_token": csrf, "subject": "", "text": ""}
        )
        assert empty.status_code == 422 and 'id="form-error"' in empty.text
        sent = client.post(
            "/service/complaints",
            data={"csrf_token": csrf, "subject": "短信收不到", "text": "没有收到动账短信"},
            follow_redirects=False,
        )
        assert sent.status_code == 303, sent.text
        page = client.get(sent.headers["location"])
        assert "短信收不到" in page.text and "已受理" in page.text
        en = client.get(sent.headers["location"] + "?lang=en")
        assert "Received" in en.text
    finally:
        client.cookies.clear()


def test_blacklist_changes_need_a_checker_and_expired_entries_stop_matching(bank: Bank) -> None:
    office = seed_office(bank)
    officer, supervisor, teller = (
        office.sign_in("risk"),
        office.sign_in("supervisor"),
        office.sign_in("teller"),
    )
    assert _page(office, teller, "GET", "/admin/risk/blacklist").status_code == 403
    proposed = _page(
        office,
        officer,
        "POST",
        "/admin/risk/blacklist",
        kind="mobile",
        value="13911112222",
        reason="police notice 2026-7",
        expires="2027-01-31",
    )
    assert proposed.status_code == 303
    listed = _page(office, officer, "GET", "/admin/risk/blacklist")
    assert "13911112222" not in listed.text and 'id="pending"' in listed.text
    assert (
        run_read(bank.db, lambda s: risk.hits(s, values={"m": "13911112222"}, at=bank.clock.now()))
        == []
    )
    command = bank.client.get("/api/admin/v1/commands", headers=supervisor).json()[0]
    assert command["kind"] == "blacklist_add" and "13911112222" not in json.dumps(command)
    assert office.approve(supervisor, command["public_id"]).status_code == 200
    entries = bank.client.get(f"{RISK}/blacklist", headers=officer).json()
    assert entries[0]["masked"] == "139****2222" and entries[0]["live"]
    assert (
        len(
            run_read(
                bank.db, lambda s: risk.hits(s, values={"m": "13911112222"}, at=bank.clock.now())
            )
        )
        == 1
    )

    # Ending it: proposed, approved by another, then it no longer matches.
    entry_id = entries[0]["id"]
    ended = bank.client.post(
        f"{RISK}/blacklist/{entry_id}/expire", json={"reason": "notice withdrawn"}, headers=officer
    )
    assert ended.status_code == 202, ended.text
    assert office.approve(supervisor, ended.json()["public_id"]).status_code == 200
    assert (
        run_read(bank.db, lambda s: risk.hits(s, values={"m": "13911112222"}, at=bank.clock.now()))
        == []
    )
    assert not bank.client.get(f"{RISK}/blacklist", headers=officer).json()[0]["live"]
    assert_problem(
        bank.client.post(
            f"{RISK}/blacklist/999999/expire", json={"reason": "nope nope"}, headers=officer
        ),
        "blacklist_entry_not_found",
        404,
    )


def test_a_high_risk_sign_up_opens_after_a_supervisor_approves_the_proposal(bank: Bank) -> None:
    office = seed_office(bank)
    officer, supervisor = office.sign_in("risk"), office.sign_in("supervisor")

    def held(s: Any) -> int:
        user = s.get_one(User, bank.c.user.id)
        user.status = "under_review"
        review = RiskAssessment(
            customer_id=bank.c.customer.id,
            user_id=user.id,
            level="high",
            factors='{"occupation": 2}',
            review="pending",
            assessed_at=bank.clock.now(),
        )
        s.add(review)
        s.flush()
        return review.id

    review_id = run_write(bank.db, held)
    queue = _page(office, supervisor, "GET", "/admin/risk/reviews")
    assert queue.status_code == 200 and f'id="review-{review_id}"' in queue.text
    detail = _page(office, officer, "GET", f"/admin/risk/reviews/{review_id}")
    assert 'id="propose-review"' in detail.text
    assert (
        _page(  # the supervisor does not propose: they decide
            office,
            supervisor,
            "POST",
            f"/admin/risk/reviews/{review_id}/propose",
            decision="approve",
            reason="documents seen",
        ).status_code
        == 403
    )
    proposed = _page(
        office,
        officer,
        "POST",
        f"/admin/risk/reviews/{review_id}/propose",
        decision="approve",
        reason="salary slip checked",
    )
    assert proposed.status_code == 303
    again = bank.client.post(
        f"{RISK}/reviews/approve",
        json={"assessment_id": review_id, "reason": "twice"},
        headers=officer,
    )
    assert_problem(again, "review_already_proposed", 409)
    pending = bank.client.get(f"{RISK}/reviews/{review_id}", headers=supervisor).json()
    assert pending["proposal"]["kind"] == "aml_review"
    assert_problem(
        office.approve(officer, pending["proposal"]["public_id"]),
        "own_command",
        403,
    )
    assert office.approve(supervisor, pending["proposal"]["public_id"]).status_code == 200
    status = run_read(bank.db, lambda s: s.get_one(User, bank.c.user.id).status)
    assert status == "active"
    assert bank.client.get(f"{RISK}/reviews", headers=supervisor).json() == []
    assert any("审核通过" in m for m in _sms(bank, bank.c.customer.mobile))


def test_a_fraud_hold_case_links_to_its_hold(bank: Bank) -> None:
    office = seed_office(bank)
    officer = office.sign_in("risk")
    case_id = run_write(
        bank.db,
        lambda s: (
            risk.open_case(
                s,
                kind="fraud_hold",
                customer_id=bank.a.customer.id,
                priority=1,
                note="",
                at=bank.clock.now(),
                reference="H-123",
            ).id
        ),
    )
    page = _page(office, officer, "GET", f"/admin/risk/cases/{case_id}")
    assert 'href="/admin/fraud/holds/H-123"' in page.text
    api = bank.client.get(f"{RISK}/cases/{case_id}", headers=officer).json()
    assert api["fraud_hold_url"] == "/admin/fraud/holds/H-123"


def test_a_blacklist_command_about_a_customer_is_refused(bank: Bank) -> None:
    """The blacklist's kinds concern no customer: proposing one for a customer fails."""
    office = seed_office(bank)
    officer = office.sign_in("risk")
    refused = bank.client.post(
        f"/api/admin/v1/customers/{bank.a.customer.public_id}/commands/blacklist_add",
        json={"reason": "wrong place", "payload": {"kind": "mobile", "value": "1"}},
        headers=officer,
    )
    assert refused.status_code in (403, 404, 422), refused.text


def test_the_registration_page_keeps_the_declared_occupation(bank: Bank) -> None:
    def build(s: Any) -> dict[str, str]:
        c = make_customer(s, at=bank.clock.now(), name="赵雷", mobile="13600005555")
        acct = make_account(s, c, at=bank.clock.now(), with_card=True)
        return {"name": c.name, "id_number": c.id_number, "mobile": c.mobile,
                "card_number": card_of(s, acct).number}  # fmt: skip

    fields = run_write(bank.db, build)
    client = bank.client
    page = client.get("/register")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    sent = client.post(
        "/register",
        data={
            **fields,
            "csrf_token": csrf,
            "username": "zhaolei",
            "password": "Zhuce-Mima-77",
            "password_again": "Zhuce-Mima-77",
            "transaction_password": "582936",
            "occupation": "business_owner",
            "product_use": "cross_border",
        },
        follow_redirects=False,
    )
    client.cookies.clear()
    assert sent.status_code == 303, sent.text[:500]
    assert run_read(
        bank.db, lambda s: [(d.occupation, d.product_use) for d in s.scalars(select(Declaration))]
    ) == [("business_owner", "cross_border")]
