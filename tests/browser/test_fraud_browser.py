"""Anti-fraud in a browser (issue 7 §4, §6), on the demo's data: a risk officer signs in
with a TOTP code, opens the demo's fraud_hold case from the risk queue, follows its link to
the held transfer and releases it; the transfer is posted once. The held-transfer, rules
and statistics pages are axe-clean (WCAG 2.1 AA) with no script error or CSP violation.
The back-office test's own server and database."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from browser.experience import DESKTOP
from browser.test_backoffice_browser import _sign_in, office_server
from browser.test_care_browser import axe_page, axe_violations

pytestmark = pytest.mark.browser
__all__ = ["office_server"]


def _rows(database: Path, sql: str, **params: str) -> list[Any]:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params))
    finally:
        engine.dispose()


def test_a_hold_is_released_from_its_case(office_server: tuple[str, Path], browser: Any) -> None:
    server, database = office_server
    [(transfer_id, case_id)] = _rows(
        database, "SELECT transfer_id, case_id FROM fraud_holds WHERE status = 'HELD'"
    )
    page = axe_page(browser, lang="zh", viewport=DESKTOP)
    _sign_in(page, server, "risk")
    page.goto(f"{server}/admin/risk/cases/{case_id}")
    page.click("#hold-link")
    page.wait_for_url(re.compile(rf".*/admin/fraud/holds/{transfer_id}$"))
    assert "审核中" in page.inner_text("#hold-status")
    assert "新设备" in page.inner_text("#hold-rules")
    assert axe_violations(page) == [], page.url
    page.fill("#release-reason", "已电话联系客户本人确认")
    page.click(f"form[action='/admin/fraud/holds/{transfer_id}/release'] button")
    page.wait_for_url(re.compile(rf".*/admin/fraud/holds/{transfer_id}$"))
    assert "已放行" in page.inner_text("#hold-status")
    assert page.locator("#hold-actions").count() == 0
    for path in ("/admin/fraud/holds?status=RELEASED", "/admin/fraud/rules", "/admin/fraud/stats"):
        page.goto(f"{server}{path}")
        assert axe_violations(page) == [], path
    assert page.errors == [], page.errors
    page.context.close()
    [(status, entry)] = _rows(
        database,
        "SELECT status, journal_entry_id FROM transfer_requests WHERE public_id = :tid",
        tid=transfer_id,
    )
    assert status == "COMPLETED" and entry is not None
    entries = _rows(
        database,
        "SELECT count(*) FROM journal_entries WHERE idempotency_key = :key",
        key=f"transfer:{transfer_id}",
    )
    assert entries == [(1,)]
