"""Issue 6 §1 in a real browser, in Chinese at desktop width and in English at phone width:
the bank directory's search, a transfer to another bank whose bank is found from the
card's BIN, the next-day speed, confirmation with the code and the soft keyboard, and the
revocation that gives the money back at once."""

from __future__ import annotations

import re
from typing import Any

import pytest

from browser.experience import DESKTOP, PEOPLE, PHONE, close, latest_code, login, new_page
from browser.test_transfer_journey import _type_pin
from wangyin import seed

pytestmark = pytest.mark.browser

WORDS = {
    "zh": {"bank": "招商银行", "waiting": "已扣款，等待发送", "revoked": "已撤销"},
    "en": {"bank": "招商银行", "waiting": "Debited, waiting to be sent", "revoked": "Revoked"},
}


@pytest.mark.parametrize(("lang", "viewport"), [("zh", DESKTOP), ("en", PHONE)])
def test_interbank_transfer_and_revoke(
    server: str, browser: Any, lang: str, viewport: dict[str, int]
) -> None:
    words = WORDS[lang]
    page = new_page(browser, lang=lang, viewport=viewport)
    login(page, server, "zhangwei", lang=lang)

    page.goto(f"{server}/interbank/banks?q=zsyh")
    results = page.get_by_test_id("bank-results")
    assert "308584000013" in results.inner_text()
    results.locator("a[href='/interbank?bank=308584000013']").click()
    assert page.locator("#bank_code").input_value() == "308584000013"
    page.select_option("#bank_code", "")  # found from the card's BIN instead

    page.fill("#payee_account", "6225880000000018")
    page.fill("#payee_name", "赵敏")
    page.fill("#amount", "66.60")
    page.check("#speed-next_day")
    page.click("form[action='/interbank'] button[type=submit].primary")
    page.wait_for_url(re.compile(r".*/interbank/.+/confirm$"))
    assert words["bank"] in page.get_by_test_id("confirm-bank").inner_text()
    assert page.get_by_test_id("confirm-amount").inner_text() == "66.60 CNY"
    if page.locator("button[name=channel][value=sms]").count():
        page.click("button[name=channel][value=sms]")
        page.wait_for_url(re.compile(r".*/confirm\?sent=sms$"))
        page.fill("#code", latest_code(server, PEOPLE["zhangwei"].mobile))
        _type_pin(page, "transaction_password", seed.DEMO_PIN)
    page.click("form[action$='/confirm'] button[type=submit].primary")

    page.wait_for_url(re.compile(r".*/interbank/[^/]+$"))
    status = page.get_by_test_id("result-status")
    assert status.get_attribute("data-status") == "WAITING"
    assert words["waiting"] in status.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    page.get_by_test_id("revoke").click()
    page.wait_for_url(re.compile(r".*/interbank/[^/]+$"))
    assert page.get_by_test_id("result-status").get_attribute("data-status") == "REVOKED"
    assert words["revoked"] in page.get_by_test_id("result-status").inner_text()
    assert page.get_by_test_id("revoke").count() == 0
    assert page.errors == []
    close(page)
