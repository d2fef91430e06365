"""Issue 9 §1 on the transfer path: an over-precise amount gets our message beside the
field, 返回修改 keeps what was typed, the code's own 60-s countdown and a resend, and the
texts in the customer's language with the "never tell anyone" warning."""

from __future__ import annotations

import re
from typing import Any

import pytest

from browser.experience import DESKTOP, PEOPLE, PHONE, close, login, messages, new_page
from browser.test_transfer_journey import _payee_account

pytestmark = pytest.mark.browser

WORDS = {
    "zh": {
        "precise": "CNY 金额最多",
        "edit": "返回修改",
        "left": r"验证码 \d+ 秒内有效",
        "expired": "验证码已过期",
        "resend": "重新发送短信验证码",
        "warning": "切勿告诉任何人",
        "login_sms": "验证码",
    },
    "en": {
        "precise": "CNY amounts can have at most 2 decimal places.",
        "edit": "Back to edit",
        "left": r"The code is valid for \d+ s",
        "expired": "The code has expired",
        "resend": "Send a new code by SMS",
        "warning": "Never tell anyone this code",
        "login_sms": "Your code to bind a new device",
    },
}


@pytest.mark.parametrize(("lang", "viewport"), [("zh", DESKTOP), ("en", PHONE)])
def test_amount_error_edit_countdown_and_sms(
    server: str, browser: Any, lang: str, viewport: dict[str, int]
) -> None:
    words = WORDS[lang]
    payee = _payee_account(server)
    page = new_page(browser, lang=lang, viewport=viewport)
    login(page, server, "zhangwei", lang=lang)
    phone = PEOPLE["zhangwei"].mobile
    bound = next(m for m in messages(server, phone) if m["purpose"] == "device")
    assert words["login_sms"] in bound["text"]  # the login's code in the customer's language

    page.goto(f"{server}/transfer")
    page.fill("#to_account_number", payee)
    page.fill("#payee_name", "李娜")
    page.fill("#amount", "12.345")
    page.fill("#remark", f"exp-{lang}")
    page.click("button[type=submit].primary")
    # Our message, in a summary linking to the field and beside the field, values kept.
    summary = page.locator(".error-summary")
    assert summary.is_visible()
    assert page.evaluate("document.activeElement.className") == "error-summary"
    assert summary.locator("a[href='#amount']").inner_text().startswith(words["precise"])
    assert page.locator("#amount").get_attribute("aria-invalid") == "true"
    assert page.locator("#amount").get_attribute("aria-describedby") == "amount-error"
    assert page.locator("#amount-error").inner_text().endswith(summary.locator("a").inner_text())
    assert page.input_value("#to_account_number") == payee
    assert page.input_value("#payee_name") == "李娜"
    assert page.input_value("#amount") == "12.345"
    summary.locator("a[href='#amount']").click()
    assert page.evaluate("document.activeElement.id") == "amount"

    page.fill("#amount", "12.34")
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r".*/transfer/.+/confirm$"))
    page.get_by_test_id("edit").click()  # 返回修改
    page.wait_for_url(re.compile(r".*/transfer/.+/edit$"))
    assert page.get_by_test_id("edit").count() == 0
    assert page.input_value("#to_account_number") == payee
    assert page.input_value("#payee_name") == "李娜"
    assert page.input_value("#amount") == "12.34"
    assert page.input_value("#remark") == f"exp-{lang}"
    assert page.get_by_test_id("edit").count() == 0

    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r".*/transfer/.+/confirm$"))
    page.clock.install()
    page.click("button[name=channel][value=sms]")
    page.wait_for_url(re.compile(r".*/confirm\?.*sent=sms"))
    countdown = page.get_by_test_id("code-countdown")
    assert re.search(words["left"], countdown.inner_text())
    sms = next(m for m in messages(server, phone) if m["purpose"] == "transfer")["text"]
    assert words["warning"] in sms and payee[-4:] in sms
    page.clock.fast_forward(61_000)
    assert words["expired"] in countdown.inner_text()
    assert page.locator("button[name=channel][value=sms]").inner_text() == words["resend"]
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert page.errors == []
    close(page)
