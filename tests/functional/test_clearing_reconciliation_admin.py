"""Daily reconciliation in the back office (issue 6 §1): a supervisor sees the runs and
their differences, closes a difference with how it was explained (audited, once), an
auditor may only read, a teller may not see them at all."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from functional.conftest import Bank, assert_problem
from functional.test_backoffice_api import USER_OF_ROLE, seed_office
from functional.test_risk_cases import _page
from wangyin.clearing.models import ReconciliationMismatch, ReconciliationRun
from wangyin.security.models import AuditRecord
from wangyin.uow import run_read, run_write

API = "/api/admin/v1/reconciliation"


def _run_with_differences(bank: Bank) -> tuple[int, list[int]]:
    def build(s: Any) -> tuple[int, list[int]]:
        run = ReconciliationRun(day="2026-12-05", system="BEPS", statement="beps-2026-12-05",
                                matched=7, mismatched=2, run_at=bank.clock.now())
        s.add(run)
        s.flush()
        found = [
            ReconciliationMismatch(run_id=run.id, kind="missing_ours", reference="msg-a",
                                   ours="", theirs="12000 PR02"),
            ReconciliationMismatch(run_id=run.id, kind="amount", reference="msg-b",
                                   ours="5000", theirs="500"),
        ]
        s.add_all(found)
        s.flush()
        return run.id, [m.id for m in found]

    return run_write(bank.db, build)


def test_a_supervisor_resolves_a_difference_once_with_a_reason(bank: Bank) -> None:
    run_id, (first, second) = _run_with_differences(bank)
    office = seed_office(bank)
    supervisor = office.sign_in(USER_OF_ROLE["supervisor"])
    auditor = office.sign_in(USER_OF_ROLE["auditor"])
    teller = office.sign_in(USER_OF_ROLE["teller"])

    runs = bank.client.get(API, headers=supervisor).json()
    assert [(r["system"], r["day"], r["mismatched"], r["unresolved"]) for r in runs] == [
        ("BEPS", "2026-12-05", 2, 2)
    ]
    assert_problem(bank.client.get(API, headers=teller), "staff_forbidden", 403)
    assert bank.client.get(f"{API}/{run_id}", headers=auditor).status_code == 200
    assert_problem(
        bank.client.post(f"{API}/mismatches/{first}/resolve", json={"reason": "x"},
                         headers=auditor),
        "staff_forbidden", 403,
    )
    assert_problem(
        bank.client.post(f"{API}/mismatches/{first}/resolve", json={"reason": "  ab "},
                         headers=supervisor),
        "resolution_reason_required", 422,
    )
    done = bank.client.post(f"{API}/mismatches/{first}/resolve",
                            json={"reason": "网络对账单重复一笔，已与人行核实"}, headers=supervisor)
    assert done.status_code == 200, done.text
    assert done.json()["resolved"] is True
    assert_problem(
        bank.client.post(f"{API}/mismatches/{first}/resolve", json={"reason": "again, again"},
                         headers=supervisor),
        "mismatch_resolved", 409,
    )
    assert_problem(
        bank.client.post(f"{API}/mismatches/999999/resolve", json={"reason": "nothing here"},
                         headers=supervisor),
        "reconciliation_not_found", 404,
    )
    assert_problem(bank.client.get(f"{API}/999999", headers=supervisor),
                   "reconciliation_not_found", 404)
    detail = bank.client.get(f"{API}/{run_id}", headers=supervisor).json()
    assert detail["unresolved"] == 1
    assert {m["id"]: m["resolved"] for m in detail["mismatches"]} == {first: True, second: False}

    # Who closed it and why are in the audit chain.
    record = run_read(bank.db, lambda s: s.scalars(
        select(AuditRecord).where(AuditRecord.event == "reconciliation_resolved")).one())
    assert record.actor.startswith("staff:")
    assert "已与人行核实" in record.details and f'"mismatch":{first}' in record.details

    # The pages: the list, the run with a form for the open difference only (zh).
    listing = _page(office, supervisor, "GET", "/admin/reconciliation")
    assert listing.status_code == 200 and "对账" in listing.text
    page = _page(office, supervisor, "GET", f"/admin/reconciliation/{run_id}")
    assert page.status_code == 200
    assert f"/admin/reconciliation/mismatches/{second}/resolve" in page.text
    assert f"/admin/reconciliation/mismatches/{first}/resolve" not in page.text
    assert "金额不一致" in page.text
    posted = _page(office, supervisor, "POST",
                   f"/admin/reconciliation/mismatches/{second}/resolve",
                   reason="我行记账金额有误，已更正")
    assert posted.status_code == 303
    assert run_read(bank.db, lambda s: s.get(ReconciliationMismatch, second).resolved) is True
    auditor_page = _page(office, auditor, "GET", f"/admin/reconciliation/{run_id}")
    assert auditor_page.status_code == 200 and "/resolve" not in auditor_page.text
