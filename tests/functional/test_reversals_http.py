"""Reversals over HTTP (issue 7 §5): a customer complains about a transfer, the risk
officer takes the case and proposes the reversal from the case page, cannot approve it
themself; a supervisor approves it through the command pipeline; the customer sees it on
the transfer page and in the history, both customers are texted; a refund request for an
intra-bank transfer is refused with a stable code."""

from __future__ import annotations

from typing import Any

from functional.conftest import Bank, assert_problem
from functional.test_backoffice_api import seed_office
from functional.test_risk_cases import _page, _sms
from wangyin.uow import run_read

RISK = "/api/admin/v1/risk"


def _customer_page(bank: Bank, headers: dict[str, str], url: str) -> Any:
    bank.client.cookies.set("wy_session", headers["Authorization"].removeprefix("Bearer "))
    try:
        return bank.client.get(url)
    finally:
        bank.client.cookies.clear()


def test_an_officer_proposes_a_reversal_from_the_case_and_a_supervisor_approves(
    bank: Bank,
) -> None:
    customer = bank.headers[bank.a.username]
    paid = bank.client.post(
        "/api/v1/transfers",
        json={
            "from_account_id": bank.a.account.public_id,
            "to_account_number": bank.b.account.account_number,
            "payee_name": bank.b.name,
            "amount": "200.00",
            "currency": "CNY",
        },
        headers={**customer, "Idempotency-Key": "reversal-http-1"},
    )
    assert paid.status_code == 201, paid.text
    transfer_id = paid.json()["id"]
    confirmed = bank.client.post(
        f"/api/v1/transfers/{transfer_id}/confirm",
        json=bank.factors(transfer_id, bank.a.username),
        headers={**customer, "Idempotency-Key": "reversal-http-2"},
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "COMPLETED"
    filed = bank.client.post(
        "/api/v1/complaints",
        json={"subject": "被骗转账", "text": "对方冒充客服", "transfer_id": transfer_id},
        headers=customer,
    )
    assert filed.status_code == 201, filed.text
    office = seed_office(bank)
    officer, supervisor = office.sign_in("risk"), office.sign_in("supervisor")
    queue = bank.client.get(f"{RISK}/cases", headers=officer).json()
    case_id = next(c["id"] for c in queue if c["public_id"] == filed.json()["complaint_id"])
    # Before taking the case: no forms, and the API refuses.
    assert (
        'id="reverse-form"'
        not in _page(office, officer, "GET", f"/admin/risk/cases/{case_id}").text
    )
    body = {"case_id": case_id, "transfer_id": transfer_id, "reason": "fraud: impersonation"}
    assert_problem(
        bank.client.post(f"{RISK}/cases/reverse", json=body, headers=officer), "case_not_yours", 409
    )
    taken = bank.client.post(f"{RISK}/cases/assign", json={"case_id": case_id}, headers=officer)
    assert taken.status_code == 200, taken.text
    listed = bank.client.get(f"{RISK}/cases/{case_id}/transfers", headers=officer).json()
    mine = next(t for t in listed if t["id"] == transfer_id)
    assert mine["reversible"] and not mine["recallable"] and mine["payee"] != bank.b.name
    # A supervisor may look, not propose.
    assert_problem(
        bank.client.post(f"{RISK}/cases/reverse", json=body, headers=supervisor),
        "staff_forbidden",
        403,
    )
    # A refund request is for inter-bank transfers only.
    assert_problem(
        bank.client.post(f"{RISK}/cases/recall", json=body, headers=officer),
        "recall_not_possible",
        409,
    )

    page = _page(office, officer, "GET", f"/admin/risk/cases/{case_id}")
    assert 'id="reverse-form"' in page.text and f'value="{transfer_id}"' in page.text
    assert "提交冲正申请" in page.text and 'id="recall-form"' not in page.text  # nothing to recall
    en = _page(office, officer, "GET", f"/admin/risk/cases/{case_id}?lang=en")
    assert "Propose a reversal" in en.text and "Transfer to reverse" in en.text
    proposed = _page(
        office, officer, "POST", "/admin/risk/cases/reverse",
        case_id=str(case_id), transfer_id=transfer_id, reason="fraud: impersonation",
    )  # fmt: skip
    assert proposed.status_code == 303, proposed.text
    assert proposed.headers["location"] == f"/admin/risk/cases/{case_id}"
    detail = bank.client.get(f"{RISK}/cases/{case_id}", headers=officer).json()
    command = next(c for c in detail["commands"] if c["kind"] == "reverse_transfer")
    assert command["status"] == "PENDING"
    assert bank.balances()[bank.a.account.account_number] == "9800.00"

    waiting = bank.client.get(f"/api/v1/transfers/{transfer_id}/reversal", headers=customer)
    assert waiting.json() == {"transfer_id": transfer_id, "reversed": False, "reversed_at": None}
    # The maker never approves their own proposal.
    assert_problem(office.approve(officer, command["public_id"]), "own_command", 403)
    approved = office.approve(supervisor, command["public_id"])
    assert approved.status_code == 200, approved.text
    assert_problem(office.approve(supervisor, command["public_id"]), "command_not_pending", 409)
    balances = bank.balances()
    assert balances[bank.a.account.account_number] == "10000.00"
    assert balances[bank.b.account.account_number] == "500.00"

    # The customer sees it: the transfer page and the history line.
    shown = _customer_page(bank, customer, f"/transfer/{transfer_id}")
    assert 'data-testid="result-reversed"' in shown.text and "冲正" in shown.text
    history = bank.client.get(
        f"/api/v1/accounts/{bank.a.account.public_id}/transactions", headers=customer
    ).json()
    assert "冲正" in str(history)
    assert any("冲正" in text for text in _sms(bank, bank.a.customer.mobile))
    assert any("95588" in text for text in _sms(bank, bank.b.customer.mobile))
    told = bank.client.get(f"/api/v1/transfers/{transfer_id}/reversal", headers=customer)
    assert told.status_code == 200 and told.json()["reversed"] and told.json()["reversed_at"]
    # Another customer's page of it shows nothing of the kind.
    other = _customer_page(bank, bank.headers[bank.b.username], f"/transfer/{transfer_id}")
    assert other.status_code == 404
    # The case shows the transfer reversed and keeps the proposal in its notes.
    page = _page(office, officer, "GET", f"/admin/risk/cases/{case_id}")
    assert "已冲正" in page.text and command["public_id"] in page.text
    assert_problem(
        bank.client.post(f"{RISK}/cases/reverse", json=body, headers=officer),
        "transfer_already_reversed",
        409,
    )
    events = run_read(bank.db, lambda s: _events(s, case_id))
    assert "transfer_reversed" in events


def _events(s: Any, case_id: int) -> list[str]:
    from wangyin.risk import service as risk

    return [r.event for r in risk.timeline(s, case_id=case_id)]
