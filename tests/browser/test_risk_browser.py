"""Risk control in a browser (issue 7 §3, §5), on the demo's data: a risk officer signs in
with a TOTP code, takes the demo's complaint from the queue, writes to the customer and
closes it with an outcome from the list; a listing proposed on the blacklist page takes
effect only when a supervisor approves it. Its own server and database (the back-office
test's fixture)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import create_engine, text

from browser.test_backoffice_browser import STAFF, _sign_in, office_server
from browser.test_care_browser import AXE, axe_violations
from wangyin import seed

pytestmark = pytest.mark.browser
__all__ = ["office_server"]


def _one(database: Path, sql: str) -> Any:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).one()
    finally:
        engine.dispose()


def test_risk_officer_takes_answers_and_closes_a_complaint(
    office_server: tuple[str, Path], browser: Any
) -> None:
    server, database = office_server
    context = browser.new_context(locale="zh-CN")
    if AXE.exists():  # axe-core (make axe) checks each page below
        context.add_init_script(path=str(AXE))
    page = context.new_page()
    _sign_in(page, server, "risk")
    page.click("nav.mainnav a[href='/admin/risk/cases']")
    page.wait_for_url(re.compile(r".*/admin/risk/cases$"))
    if AXE.exists():
        assert axe_violations(page) == []
    row = page.locator("#cases tbody tr").filter(has_text="客户投诉")
    assert "72" in row.inner_text()  # its SLA, in hours
    row.locator("form[action='/admin/risk/cases/assign'] button").click()
    page.wait_for_url(re.compile(r".*/admin/risk/cases$"))
    page.locator("#cases tbody tr").filter(has_text="客户投诉").locator("td a").first.click()
    page.wait_for_url(re.compile(r".*/admin/risk/cases/[0-9]+$"))
    assert "短信通知未收到" in page.inner_text("#case-facts")
    if AXE.exists():
        case_url = page.url
        assert axe_violations(page) == []
        for path in ("/admin/risk/blacklist", "/admin/risk/reviews"):
            page.goto(f"{server}{path}")
            assert axe_violations(page) == [], path
        page.goto(case_url)
    page.fill("#contact-text", "已为您补发动账短信，请查收。")
    page.click("form[action='/admin/risk/cases/contact'] button")
    page.wait_for_url(re.compile(r".*/admin/risk/cases/[0-9]+$"))
    assert "已为您补发动账短信" in page.inner_text("#case-messages")
    page.select_option("#outcome", "resolved")
    page.fill("#comment", "短信网关延迟，已补发")
    page.click("form[action='/admin/risk/cases/close'] button")
    page.wait_for_url(re.compile(r".*/admin/risk/cases/[0-9]+$"))
    assert "已结案" in page.inner_text("#case-status") and "已解决" in page.inner_text(
        "#case-status"
    )
    context.close()
    status, outcome, notes = _one(
        database, "SELECT status, outcome, notes FROM risk_cases WHERE kind = 'complaint'"
    )
    assert (status, outcome) == ("closed", "resolved") and "短信网关延迟" in notes
    assert _one(database, "SELECT count(*) FROM risk_case_messages WHERE sender = 'bank'")[0] == 1


def test_a_listing_waits_for_a_supervisors_approval(
    office_server: tuple[str, Path], browser: Any
) -> None:
    server, database = office_server
    officer = browser.new_context(locale="zh-CN")
    page = officer.new_page()
    # The risk officer signed in in the test before: a code is good once (RFC 6238 §5.2),
    # so this sign-in uses the next step's code (one step of drift is accepted).
    page.goto(f"{server}/admin/login")
    page.fill("#username", "risk")
    page.fill("#staff_password", seed.DEMO_STAFF_PASSWORD)
    page.fill("#totp_code", pyotp.TOTP(STAFF["risk"].totp_secret).at(time.time() + 30))
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r".*/admin$"))
    page.goto(f"{server}/admin/risk/blacklist")
    page.select_option("#kind", "mobile")
    page.fill("#value", "13811110000")
    page.fill("#reason", "公安协查通知 2026-9")
    page.fill("#expires", "2027-06-30")
    page.click("#add-entry button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/risk/blacklist\?proposed=1$"))
    assert page.is_visible("#pending") and "13811110000" not in page.content()
    officer.close()
    before = _one(database, "SELECT count(*) FROM risk_blacklist")[0]

    supervisor = browser.new_context(locale="zh-CN")
    page = supervisor.new_page()
    _sign_in(page, server, "supervisor")
    page.goto(f"{server}/admin/risk/blacklist")
    row = page.locator("#pending tr[data-command]").first
    row.locator("input[name=reason]").fill("协查通知已核对")
    row.locator("button[value=approve]").click()
    page.wait_for_url(re.compile(r".*/admin/commands\?notice=executed$"))
    page.goto(f"{server}/admin/risk/blacklist")
    assert "138****0000" in page.inner_text("#entries")
    supervisor.close()
    assert _one(database, "SELECT count(*) FROM risk_blacklist")[0] == before + 1
