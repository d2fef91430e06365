"""Issue 6 §2 (aliases at other banks) in a real browser, in Chinese at desktop width, in
English at phone width and in care mode (关爱版) on a phone: a mobile number registered at
Guilin Bank is looked up through the IBPS simulator (posted, never in the URL), shown
masked with its bank, confirmed by the surname and paid as a real-time inter-bank transfer,
confirmed with the code and the soft keyboard; every page axe-clean (WCAG 2.1 AA), no CSP
violation, no sideways scrolling."""

from __future__ import annotations

import re
from typing import Any

import pytest

from browser.experience import DESKTOP, PEOPLE, PHONE, close, latest_code, login
from browser.test_care_browser import axe_page, axe_violations
from browser.test_transfer_journey import _type_pin
from wangyin import seed

pytestmark = pytest.mark.browser

CHEN = "13900003333"  # 陈思远 at Guilin Bank (the simulator's demo alias)
WORDS = {
    "zh": {"note": "超级网银", "waiting": "已扣款，等待发送"},
    "en": {"note": "(IBPS)", "waiting": "Debited, waiting to be sent"},
}


def _clean(page: Any, viewport: dict[str, int]) -> None:
    assert page.errors == [], page.errors
    assert axe_violations(page) == [], page.url
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]


@pytest.mark.parametrize(
    ("lang", "viewport", "care"),
    [("zh", DESKTOP, False), ("en", PHONE, False), ("zh", PHONE, True)],
    ids=["zh-desktop", "en-phone", "zh-phone-care"],
)
def test_pay_a_mobile_number_at_another_bank(
    server: str, browser: Any, lang: str, viewport: dict[str, int], care: bool
) -> None:
    words = WORDS[lang]
    page = axe_page(browser, lang=lang, viewport=viewport)
    if care:  # 关爱版 for this browser only (its cookie), not saved for the customer
        page.context.add_cookies([{"name": "wy_care", "value": "1", "url": server}])
    login(page, server, "lina", lang=lang)

    page.goto(f"{server}/mobile-transfer")
    _clean(page, viewport)
    page.fill("#mobile", CHEN)
    page.click("button[type=submit].primary")
    payee = page.get_by_test_id("mobile-payee")
    payee.wait_for()
    assert CHEN not in page.url  # posted, not in the address
    assert "陈*远" in payee.inner_text() and "桂林银行" in payee.inner_text()
    assert "陈思远" not in page.content()
    note = page.get_by_test_id("ibps-note")
    assert words["note"] in note.inner_text()
    if care:
        assert page.locator("body.care").count() == 1
        size = float(note.evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
        assert size >= 24  # body text in care mode
    _clean(page, viewport)

    page.fill("#name_check", "陈")
    page.fill("#amount", "23.40")
    page.click("form[action='/mobile-transfer'] button[type=submit].primary")
    page.wait_for_url(re.compile(r".*/interbank/.+/confirm$"))
    assert "桂林银行" in page.get_by_test_id("confirm-bank").inner_text()
    assert page.get_by_test_id("confirm-amount").inner_text() == "23.40 CNY"
    _clean(page, viewport)
    if page.locator("button[name=channel][value=sms]").count():
        page.click("button[name=channel][value=sms]")
        page.wait_for_url(re.compile(r".*/confirm\?sent=sms$"))
        page.fill("#code", latest_code(server, PEOPLE["lina"].mobile))
        _type_pin(page, "transaction_password", seed.DEMO_PIN)
    page.click("form[action$='/confirm'] button[type=submit].primary")

    page.wait_for_url(re.compile(r".*/interbank/[^/]+$"))
    status = page.get_by_test_id("result-status")
    assert status.get_attribute("data-status") == "WAITING"  # the worker sends it
    assert words["waiting"] in status.inner_text()
    _clean(page, viewport)
    close(page)
