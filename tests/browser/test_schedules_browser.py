"""Scheduled transfers in a browser, at desktop and phone width: set one up (the form, the
code and the soft keyboard), see it active with its next run, pause it; in Chinese, and the
same pages in English. The runs themselves are made by the worker as the clock moves
(tests/integration/test_schedules.py): the served app's clock is the real one."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from browser.experience import DESKTOP, PHONE, close, latest_code, login, new_page
from browser.test_transfer_journey import PEOPLE, _payee_account, _type_pin
from wangyin import seed
from wangyin.clock import BANK_TZ

VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_set_up_and_pause_a_recurring_transfer(server: str, browser: Any, viewport: str) -> None:
    page = new_page(browser, viewport=VIEWPORTS[viewport])
    login(page, server, "zhangwei")
    page.click("nav.mainnav >> text=预约转账")
    page.wait_for_url(re.compile(r".*/transfer/schedules$"))
    page.get_by_test_id("new-schedule").click()
    payee = _payee_account(server)
    start = (datetime.now(UTC).astimezone(BANK_TZ) + timedelta(days=2)).date()
    page.fill("#to_account_number", payee)
    page.fill("#payee_name", "李娜")
    page.fill("#amount", "12.30")
    page.fill("#remark", f"房租-{viewport}")
    page.select_option("#frequency", "monthly")
    page.fill("#start_date", start.isoformat())
    page.fill("#start_time", "09:15")
    page.fill("#max_runs", "3")
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r".*/transfer/schedules/[^/]+/confirm$"))
    assert page.get_by_test_id("confirm-amount").inner_text() == "12.30 CNY"
    assert f"每月 {start.day} 日" in page.get_by_test_id("confirm-schedule").inner_text()
    page.get_by_test_id("send-code").click()
    page.wait_for_url(re.compile(r".*/confirm\?sent=sms$"))
    page.fill("#code", latest_code(server, PEOPLE["zhangwei"].mobile))
    _type_pin(page, "transaction_password", seed.DEMO_PIN)
    page.get_by_test_id("confirm").click()
    page.wait_for_url(re.compile(r".*/transfer/schedules/[^/]+\?done=confirmed$"))
    assert page.get_by_test_id("schedule-status").inner_text() == "生效中"
    assert page.get_by_test_id("next-run").inner_text() == f"{start.isoformat()} 09:15"
    page.get_by_test_id("pause").click()
    page.wait_for_url(re.compile(r".*\?done=pause$"))
    assert page.get_by_test_id("schedule-status").inner_text() == "已暂停"
    page.goto(page.url.split("?")[0] + "?lang=en")
    assert page.get_by_test_id("schedule-status").inner_text() == "Paused"
    assert page.get_by_test_id("resume").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[viewport]["width"]
    page.goto(f"{server}/transfer/schedules?lang=zh")
    assert page.errors == []
    close(page)
