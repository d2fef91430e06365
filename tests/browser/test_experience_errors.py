"""Issue 9 §1: errors that name their field (the GOV.UK pattern) with the right cause -
a summary at the top linking to each field, the message beside the field, aria-invalid
and aria-describedby, and the values kept (all but secrets)."""

from __future__ import annotations

from typing import Any

import pytest

from browser.experience import DESKTOP, PHONE, close, new_page
from browser.test_transfer_journey import _type_pin
from wangyin import seed

pytestmark = pytest.mark.browser


def _luhn(prefix: str, length: int = 16) -> str:
    digits = [int(d) for d in prefix.ljust(length - 1, "0")]
    total = sum(d if i % 2 else sum(divmod(d * 2, 10)) for i, d in enumerate(reversed(digits)))
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def _field_error(page: Any, field: str) -> str:
    """The field's message, checked to be wired the accessible way."""
    box = page.locator(f"#{field}")
    assert box.get_attribute("aria-invalid") == "true", field
    assert f"{field}-error" in (box.get_attribute("aria-describedby") or "").split()
    link = page.locator(f".error-summary a[href='#{field}']")
    assert link.count() == 1, field
    message: str = page.locator(f"#{field}-error").inner_text()
    assert message.endswith(link.inner_text())
    return message


@pytest.mark.parametrize(("lang", "viewport"), [("zh", DESKTOP), ("en", PHONE)])
def test_registration_names_the_field_and_keeps_what_was_typed(
    server: str, browser: Any, lang: str, viewport: dict[str, int]
) -> None:
    applicant = seed.describe_unregistered()
    page = new_page(browser, lang=lang, viewport=viewport)
    page.goto(f"{server}/register?lang={lang}")
    page.fill("#name", applicant["name"])
    page.fill("#id_number", applicant["id_number"])
    page.fill("#mobile", applicant["mobile"])
    page.fill("#card_number", _luhn("622688"))
    page.fill("#username", "chenjing88")
    page.fill("#password", "Chenjing88-safe")
    page.fill("#password_again", "Chenjing88-save")
    _type_pin(page, "transaction_password", "640285")
    page.click("button[type=submit].primary")
    # Mismatched passwords: said beside the second one before the form leaves the page,
    # so nothing typed is lost - not even the ID and card numbers.
    mismatch = page.locator("#password_again-error").inner_text()
    assert (
        mismatch == {"zh": "两次输入的密码不一致。", "en": "The two passwords do not match."}[lang]
    )
    assert page.locator("#password_again").get_attribute("aria-invalid") == "true"
    assert page.input_value("#id_number") == applicant["id_number"]
    assert page.input_value("#card_number") == _luhn("622688")
    assert "/register" in page.url

    # A password with the login name in it: the server says exactly that, beside it.
    page.fill("#password_again", "Chenjing88-safe")
    page.click("button[type=submit].primary")
    page.wait_for_selector(".error-summary")
    message = _field_error(page, "password")
    expected = {"zh": "包含了您的登录名", "en": "it contains your login name"}[lang]
    assert message.endswith(expected), message
    assert "ID, phone or birthday" not in message and "身份证号" not in message
    assert page.evaluate("document.activeElement.className") == "error-summary"
    for field in ("name", "mobile", "username"):
        assert page.input_value(f"#{field}") != ""  # kept
    for secret in ("password", "password_again"):
        assert page.input_value(f"#{secret}") == ""  # secrets are never sent back
    page.locator(".error-summary a[href='#password']").click()
    assert page.evaluate("document.activeElement.id") == "password"
    assert page.errors == []
    close(page)


def test_empty_registration_lists_every_field(server: str, browser: Any) -> None:
    page = new_page(browser)
    page.goto(f"{server}/register")
    page.click("button[type=submit].primary")
    page.wait_for_selector(".error-summary")
    links = page.locator(".error-summary a")
    assert links.count() == 8
    assert _field_error(page, "name").endswith("请输入您的姓名。")
    assert _field_error(page, "card_number").endswith("请输入借记卡号。")
    close(page)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_login_refusal_points_at_the_form(server: str, browser: Any, lang: str) -> None:
    page = new_page(browser, lang=lang)
    page.goto(f"{server}/login?lang={lang}")
    page.fill("#login", "lina")
    page.fill("#password", "not-the-password1")
    page.click("button[type=submit].primary")
    page.wait_for_selector(".error-summary")
    message = _field_error(page, "login")
    assert message.endswith(
        {"zh": "登录名或密码错误。", "en": "The login name or password is incorrect."}[lang]
    )
    assert page.input_value("#login") == "lina"
    assert page.input_value("#password") == ""
    close(page)
