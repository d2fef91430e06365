"""Issue 6 in a real browser, at desktop and phone width: pay a mobile number (the demo's
李娜 receives by 13987654321), save the payee to the payee book from the result page,
read the e-receipt and check it on the bank's public page, then transfer again from the
payee book."""

from __future__ import annotations

import re
from typing import Any

import pytest

from browser.experience import DESKTOP, PEOPLE, PHONE, close, latest_code, login, new_page
from browser.test_transfer_journey import _type_pin
from wangyin import seed

LINA_MOBILE = PEOPLE["lina"].mobile


def _confirm_with_code(page: Any, server: str) -> None:
    page.click("button[name=channel][value=sms]")
    page.wait_for_url(re.compile(r".*/confirm\?.*sent=sms"))
    page.fill("#code", latest_code(server, PEOPLE["zhangwei"].mobile))
    _type_pin(page, "transaction_password", seed.DEMO_PIN)
    page.click("form[action$='/confirm'] button[type=submit].primary")
    page.wait_for_url(re.compile(r".*/transfer/[^/?]+$"))


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_mobile_transfer_payee_book_receipt_and_transfer_again(
    server: str, browser: Any, viewport: dict[str, int]
) -> None:
    page = new_page(browser, viewport=viewport)
    login(page, server, "zhangwei")

    page.goto(f"{server}/mobile-transfer")
    page.fill("#mobile", LINA_MOBILE)
    page.click("button[type=submit].primary")
    payee = page.get_by_test_id("mobile-payee")
    assert "李*" in payee.inner_text() and "网银城市商业银行" in payee.inner_text()
    page.fill("#name_check", "李")
    page.fill("#amount", "6.60")
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r".*/transfer/.+/confirm$"))
    assert page.get_by_test_id("confirm-amount").inner_text() == "6.60 CNY"
    _confirm_with_code(page, server)
    assert "转账成功" in page.locator("h1").inner_text()

    # The e-receipt: reference and code on screen, a PDF, and the public check.
    reference = page.get_by_test_id("receipt-reference").inner_text()
    code = page.get_by_test_id("receipt-code").inner_text()
    with page.expect_download() as download:
        page.click("a[href$='/receipt.pdf']")
    assert download.value.suggested_filename == f"receipt-{reference}.pdf"
    page.get_by_test_id("save-payee").click()
    page.wait_for_url(re.compile(r".*/payees(\?done=added|/from-transfer)$"))
    if page.url.endswith("/from-transfer"):  # saved by the other width's run already
        assert "该收款人已在您的收款人名册中" in page.locator("#form-error").inner_text()
    assert "李娜" in page.get_by_test_id("payee-list").inner_text()

    # Transfer again from the payee book: the payee is filled in, the amount is not.
    page.click("[data-testid=payee-list] a[href^='/transfer?payee=']")
    assert page.input_value("#payee_name") == "李娜"
    assert re.fullmatch(r"\d{19}", page.input_value("#to_account_number"))
    assert page.input_value("#amount") == ""

    public = new_page(browser, viewport=viewport)
    public.goto(f"{server}/receipts/verify")
    public.fill("#reference", reference)
    public.fill("#code", code)
    public.click("button[type=submit].primary")
    assert public.get_by_test_id("receipt-genuine").is_visible()
    assert "6.60" in public.locator("dl.facts").inner_text()
    for p in (page, public):
        assert p.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        assert p.errors == []
    close(public)
    close(page)
