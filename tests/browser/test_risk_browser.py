"""A risk officer works a case in a browser (issue 7 §5): signs in with a TOTP code, opens
the case queue seeded by the demo, takes the most urgent case, notes it and closes it with
an outcome. Its own server and database (the back-office test's fixture)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from browser.test_backoffice_browser import _sign_in, office_server

pytestmark = pytest.mark.browser
__all__ = ["office_server"]


def _case(database: Path) -> tuple[str, str, str]:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT status, outcome, notes FROM risk_cases WHERE priority = 1")
            ).one()
            return str(row[0]), str(row[1]), str(row[2])
    finally:
        engine.dispose()


def test_risk_officer_takes_notes_and_closes_a_case(
    office_server: tuple[str, Path], browser: Any
) -> None:
    server, database = office_server
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    _sign_in(page, server, "risk")
    page.goto(f"{server}/admin/risk/cases")
    first = page.locator("#cases tbody tr").first
    assert "命中黑名单" in first.inner_text() and "已超时限" in first.inner_text()
    first.locator("form[action='/admin/risk/cases/assign'] button").click()
    page.wait_for_url(re.compile(r".*/admin/risk/cases$"))
    first = page.locator("#cases tbody tr").first
    first.locator("input[name=note]").fill("已联系网点核实")
    first.locator("form[action='/admin/risk/cases/note'] button").click()
    page.wait_for_url(re.compile(r".*/admin/risk/cases$"))
    first = page.locator("#cases tbody tr").first
    assert "已联系网点核实" in first.inner_text()
    first.locator("input[name=outcome]").fill("确认欺诈，保留黑名单")
    first.locator("form[action='/admin/risk/cases/close'] button").click()
    page.wait_for_url(re.compile(r".*/admin/risk/cases$"))
    context.close()
    status, outcome, notes = _case(database)
    assert (status, outcome) == ("closed", "确认欺诈，保留黑名单") and "已联系网点核实" in notes
