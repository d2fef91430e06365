"""The anti-fraud back office over HTTP (issue 7 §4): the rule set changed through the
maker-checker pipeline (API and page), refusals as problem+json with stable codes."""

from __future__ import annotations

from functional.conftest import Bank, assert_problem
from functional.test_backoffice_api import USER_OF_ROLE, seed_office
from functional.test_risk_cases import _page

FRAUD = "/api/admin/v1/fraud"


def test_rules_are_proposed_by_a_risk_officer_and_approved_by_a_supervisor(bank: Bank) -> None:
    office = seed_office(bank)
    officer = office.sign_in(USER_OF_ROLE["risk_officer"])
    supervisor = office.sign_in(USER_OF_ROLE["supervisor"])
    teller = office.sign_in(USER_OF_ROLE["teller"])
    start = bank.client.get(f"{FRAUD}/rules", headers=officer).json()
    assert start["active_version"] == 0
    assert start["params"]["odd_hour"] == {"enabled": True, "start": 0, "end": 6, "points": 20}

    change = {"params": {"odd_hour": {"end": 7, "points": 25}}, "reason": "more night fraud"}
    assert_problem(
        bank.client.post(f"{FRAUD}/rules", json=change, headers=teller), "staff_forbidden", 403
    )
    for bad in (
        {"odd_hour": {"end": -1}},
        {"odd_hour": {"enabled": 1}},
        {"nope": {}},
        {"odd_hour": {"colour": 3}},
    ):
        assert_problem(
            bank.client.post(
                f"{FRAUD}/rules", json={"params": bad, "reason": "typo"}, headers=officer
            ),
            "rules_invalid",
            422,
        )
    proposed = bank.client.post(f"{FRAUD}/rules", json=change, headers=officer)
    assert proposed.status_code == 202, proposed.text
    command = proposed.json()["id"]
    assert bank.client.get(f"{FRAUD}/rules", headers=officer).json()["pending_commands"] == [
        command
    ]
    # The maker cannot approve; the supervisor can.
    own = bank.client.post(
        f"/api/admin/v1/commands/{command}/approve", json={"reason": "mine"}, headers=officer
    )
    assert own.status_code in (403, 409), own.text
    approved = bank.client.post(
        f"/api/admin/v1/commands/{command}/approve", json={"reason": "agreed"}, headers=supervisor
    )
    assert approved.status_code == 200, approved.text
    now = bank.client.get(f"{FRAUD}/rules", headers=supervisor).json()
    assert now["active_version"] == 1
    assert now["params"]["odd_hour"] == {"enabled": True, "start": 0, "end": 7, "points": 25}
    assert [v["version"] for v in now["versions"]] == [1]

    # The page: the active values in a form; one changed field becomes a proposal.
    page = _page(office, officer, "GET", "/admin/fraud/rules")
    assert page.status_code == 200 and 'name="odd_hour.end" value="7"' in page.text
    fields = {"reason": "switch the velocity rule off"}
    for rule, values in now["params"].items():
        for key, value in values.items():
            if key == "action":
                continue
            if isinstance(value, bool):
                if value and (rule, key) != ("velocity", "enabled"):
                    fields[f"{rule}.{key}"] = "on"
            else:
                fields[f"{rule}.{key}"] = str(value)
    sent = _page(office, officer, "POST", "/admin/fraud/rules", **fields)
    assert sent.status_code == 303, sent.text
    waiting = bank.client.get(f"{FRAUD}/rules", headers=officer).json()["pending_commands"]
    assert len(waiting) == 1
    listed = bank.client.get(f"/api/admin/v1/commands/{waiting[0]}", headers=supervisor).json()
    assert listed["payload"] == {"params": {"velocity": {"enabled": False}}}


def test_holds_refusals_are_problems_with_stable_codes(bank: Bank) -> None:
    office = seed_office(bank)
    officer = office.sign_in(USER_OF_ROLE["risk_officer"])
    assert_problem(bank.client.get(f"{FRAUD}/holds/nope", headers=officer), "hold_not_found", 404)
    assert_problem(
        bank.client.post(
            f"{FRAUD}/holds/nope/release", json={"reason": "why not"}, headers=officer
        ),
        "hold_not_found",
        404,
    )
    assert bank.client.get(f"{FRAUD}/holds?status=all", headers=officer).json() == []
    stats = bank.client.get(f"{FRAUD}/stats?days=7", headers=officer).json()
    assert stats["since_days"] == 7 and set(stats["scores"]) >= {"0-9", "90-99"}
    # A customer's token opens nothing here.
    customer = bank.headers[bank.a.username]
    assert bank.client.get(f"{FRAUD}/holds", headers=customer).status_code == 401
