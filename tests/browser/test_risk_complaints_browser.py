"""A customer's complaint in a browser (issue 7 §5, 4.4-d1): from the main menu, the
form, the list with its status and the complaint's page; axe-clean, no CSP or script
error, in the standard look and in care mode (关爱版). The registration form asks the
occupation and the intended use (the AML factors, 4.4-a2)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from browser.experience import PHONE, close, login
from browser.test_care_browser import _check_page, axe_page

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_customer_files_a_complaint_and_follows_it(server: str, browser: Any, lang: str) -> None:
    page = axe_page(browser, lang=lang, viewport=PHONE)
    login(page, server, "wangfang", lang=lang)
    page.goto(f"{server}/service/complaints")
    _check_page(page, care=False)
    page.fill("#subject", "ATM 吞卡" if lang == "zh" else "Card kept by an ATM")
    page.fill(
        "#text", "昨天下午在网点 ATM 取款时卡被吞。" if lang == "zh" else "Yesterday afternoon."
    )
    page.click("#complaint-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/service/complaints/[0-9a-f-]+$"))
    _check_page(page, care=False)
    status = page.inner_text("#complaint-status")
    assert status == ("已受理" if lang == "zh" else "Received")
    page.goto(f"{server}/service/complaints")
    assert page.locator("#complaints tbody tr").count() >= 1
    # Care mode: the same pages, larger, still clean.
    page.goto(f"{server}/accounts")
    if page.locator("body.care").count() == 0:
        page.click("[data-care-switch]")
        page.wait_for_selector("body.care")
    try:
        page.goto(f"{server}/service/complaints")
        _check_page(page, care=True)
    finally:
        page.goto(f"{server}/accounts")
        page.click("[data-care-switch]")  # back to the standard look for the other tests
        page.wait_for_url(f"{server}/accounts")
    close(page)


def test_registration_asks_occupation_and_use(server: str, browser: Any) -> None:
    page = axe_page(browser, lang="zh", viewport=PHONE)
    page.goto(f"{server}/register")
    options = page.locator("#occupation option").all_inner_texts()
    assert "个体工商户" in options and len(options) == 11
    assert page.locator("#product_use option").count() == 6
    _check_page(page, care=False)
    close(page)
