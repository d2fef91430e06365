"""Risk officers through the API (issue 7 §3, §5): list a mobile, the listed applicant's
sign-up is refused like any mismatch (zh and en), the case it opened is taken, noted and
closed by the officer; taken once; other roles are refused."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from factories import DEFAULT_PASSWORD, card_of, make_account, make_customer
from functional.conftest import Bank, assert_problem
from functional.test_backoffice_api import seed_office
from wangyin.backoffice.context import STAFF_COOKIE
from wangyin.risk import service as risk
from wangyin.uow import run_write

RISK = "/api/admin/v1/risk"


def _applicant(bank: Bank) -> dict[str, str]:
    def build(s: Session) -> dict[str, str]:
        c = make_customer(s, at=bank.clock.now(), name="陈静", mobile="13600003333")
        acct = make_account(s, c, at=bank.clock.now(), with_card=True)
        return {
            "name": c.name,
            "id_number": c.id_number,
            "mobile": c.mobile,
            "card_number": card_of(s, acct).number,
            "username": "chenjing",
            "password": "Zhuce-Mima-77",
            "transaction_password": "582936",
        }

    return run_write(bank.db, build)


def test_a_listed_mobile_is_refused_at_sign_up_and_its_case_is_worked(bank: Bank) -> None:
    office = seed_office(bank)
    officer, second, teller = (
        office.sign_in("risk"),
        office.sign_in("supervisor"),
        office.sign_in("teller"),
    )
    form = _applicant(bank)
    entry = {"kind": "mobile", "value": form["mobile"], "reason": "mule account ring"}
    assert_problem(
        bank.client.post(f"{RISK}/blacklist", json=entry, headers=teller), "staff_forbidden", 403
    )
    added = bank.client.post(f"{RISK}/blacklist", json=entry, headers=officer)
    assert added.status_code == 202, added.text  # proposed: a checker makes it take effect
    assert_problem(office.approve(officer, added.json()["public_id"]), "own_command", 403)
    assert office.approve(second, added.json()["public_id"]).status_code == 200
    listed = bank.client.get(f"{RISK}/blacklist", headers=officer)
    assert form["mobile"] not in listed.text  # only its hash (and its mask) is kept
    assert listed.json()[0]["masked"].endswith(form["mobile"][-4:])

    refused = bank.client.post("/api/v1/auth/register", json=form)
    assert_problem(refused, "card_not_found", 422)
    en = bank.client.post("/api/v1/auth/register", json=form, headers={"Accept-Language": "en"})
    assert en.json()["code"] == "card_not_found" and en.json()["detail"] != refused.json()["detail"]

    cases = bank.client.get(f"{RISK}/cases", headers=officer).json()
    assert [c["kind"] for c in cases] == ["blacklist_hit", "blacklist_hit"]
    case_id = cases[0]["id"]
    bank.clock.advance(hours=5)
    officer, second = office.sign_in("risk"), office.sign_in("supervisor")  # idle timeout
    aged = bank.client.get(f"{RISK}/cases", headers=officer).json()[0]
    assert aged["age_hours"] == 5.0 and aged["sla_breached"]  # priority 1: 4 hours

    taken = bank.client.post(f"{RISK}/cases/assign", json={"case_id": case_id}, headers=officer)
    assert taken.status_code == 200 and taken.json()["status"] == "assigned"
    assert_problem(  # the supervisor sees the queue but does not work cases
        bank.client.post(f"{RISK}/cases/assign", json={"case_id": case_id}, headers=second),
        "staff_forbidden",
        403,
    )
    assert len(bank.client.get(f"{RISK}/cases", headers=second).json()) == 2
    assert_problem(  # taken once
        bank.client.post(f"{RISK}/cases/assign", json={"case_id": case_id}, headers=officer),
        "case_taken",
        409,
    )
    noted = bank.client.post(
        f"{RISK}/cases/note",
        json={"case_id": case_id, "note": "called the branch"},
        headers=officer,
    )
    assert noted.status_code == 204
    closed = bank.client.post(
        f"{RISK}/cases/close",
        json={"case_id": case_id, "outcome": "fraud_confirmed", "comment": "kept listed"},
        headers=officer,
    )
    assert closed.json()["status"] == "closed" and "called the branch" in closed.json()["notes"]
    assert_problem(
        bank.client.post(f"{RISK}/cases/assign", json={"case_id": 999999}, headers=officer),
        "case_not_found",
        404,
    )


def test_a_listed_device_is_not_bound_and_opens_a_case(bank: Bank) -> None:
    office = seed_office(bank)
    officer = office.sign_in("risk")
    entry = {"kind": "device", "value": "stolen-phone-9", "reason": "reported stolen"}
    proposed = bank.client.post(f"{RISK}/blacklist", json=entry, headers=officer)
    assert office.approve(office.sign_in("supervisor"), proposed.json()["public_id"]).is_success
    headers = {"X-Device-Id": "stolen-phone-9"}
    who = bank.a.user.username
    body = bank.client.post(
        "/api/v1/auth/login", json={"login": who, "password": DEFAULT_PASSWORD}, headers=headers
    ).json()
    assert body["status"] == "challenge_required"
    challenge = body["challenge_id"]
    sent = bank.client.post(
        "/api/v1/auth/login/code", json={"challenge_id": challenge}, headers=headers
    )
    assert sent.status_code == 204
    refused = bank.client.post(
        "/api/v1/auth/login/verify",
        json={
            "challenge_id": challenge,
            "code": bank.last_code(bank.a.customer.mobile),
            "id_number": bank.a.customer.id_number,
        },
        headers=headers,
    )
    assert_problem(refused, "challenge_not_found")  # as for any spent or unknown challenge
    cases = bank.client.get(f"{RISK}/cases", headers=officer).json()
    assert [c["kind"] for c in cases] == ["blacklist_hit"]
    timeline = bank.client.get(
        f"{RISK}/cases/timeline", params={"case_id": cases[0]["id"]}, headers=officer
    ).json()
    hit = [t for t in timeline if t["event"] == "blacklist_hit"]
    assert len(hit) == 1 and hit[0]["outcome"] == "failure"
    assert {"at", "ip", "device_id", "client"} <= set(hit[0])
    assert any(t["event"] == "login" or t["event"].startswith("login") for t in timeline)
    # Another device is bound as usual.
    assert "Authorization" in bank.login(who, device="own-new-phone")


def test_an_officer_takes_notes_and_closes_a_case_on_the_page(bank: Bank) -> None:
    office = seed_office(bank)
    officer, auditor = office.sign_in("risk"), office.sign_in("auditor")
    case_id = run_write(
        bank.db,
        lambda s: (
            risk.open_case(
                s, kind="blacklist_hit", customer_id=None, priority=1, note="", at=bank.clock.now()
            ).id
        ),
    )
    client = bank.client

    def page(headers: dict[str, str], method: str, url: str, **form: str) -> Any:
        client.cookies.set(
            STAFF_COOKIE, headers["Authorization"].removeprefix("Bearer "), path="/admin"
        )
        try:
            if method == "GET":
                return client.get(url, follow_redirects=False)
            data = {"csrf_token": office.csrf_of(headers), **form}
            return client.post(url, data=data, follow_redirects=False)
        finally:
            client.cookies.clear()

    listed = page(auditor, "GET", "/admin/risk/cases")
    assert listed.status_code == 200 and f'id="case-{case_id}"' in listed.text
    assert "/admin/risk/cases/assign" not in listed.text  # the auditor reads only
    shown = page(officer, "GET", "/admin/risk/cases")
    assert "命中黑名单" in shown.text and "/admin/risk/cases/assign" in shown.text
    assert (
        page(officer, "POST", "/admin/risk/cases/assign", case_id=str(case_id)).status_code == 303
    )
    again = page(officer, "POST", "/admin/risk/cases/assign", case_id=str(case_id))
    assert again.status_code == 409 and "该案件已被分配或已结案" in again.text
    page(officer, "POST", "/admin/risk/cases/note", case_id=str(case_id), note="checked IDs")
    assert "checked IDs" in page(officer, "GET", "/admin/risk/cases").text
    closed = page(
        officer, "POST", "/admin/risk/cases/close", case_id=str(case_id), outcome="resolved"
    )
    assert closed.status_code == 303
    assert f'id="case-{case_id}"' not in page(officer, "GET", "/admin/risk/cases").text
