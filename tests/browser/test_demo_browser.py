"""The demo (演示模式, 5.2.3-d) in Chromium: from the login page's 先体验一下 link to the
demo home, accounts and history under the 演示 banner, the transfer walked to its confirm
page, back to edit with the typing kept, and the confirm that moves no money; at desktop
and phone width, zh and en, normal and care mode, axe-core 0 violations on every page."""

from __future__ import annotations

from typing import Any

import pytest

from browser.experience import DESKTOP, PHONE, close
from browser.test_care_browser import _check_page
from browser.test_help_browser import CASES, no_sideways_scroll, open_page

pytestmark = pytest.mark.browser

BANNER = {"zh": "演示", "en": "Demo"}


def checked(page: Any, *, care: bool, lang: str) -> None:
    _check_page(page, care=care)
    no_sideways_scroll(page)
    banner = page.locator("[data-demo-banner]")
    assert banner.is_visible() and BANNER[lang] in banner.inner_text()


@pytest.mark.parametrize(("lang", "viewport", "care"), CASES)
def test_the_demo_journey(
    server: str, browser: Any, lang: str, viewport: dict[str, int], care: bool
) -> None:
    page = open_page(browser, server, lang=lang, viewport=viewport, care=care)
    page.click("[data-testid='demo-link']")
    page.wait_for_url(f"{server}/demo")
    _check_page(page, care=care)
    page.click("form[action='/demo/start'] button")
    page.wait_for_url(f"{server}/demo/home")
    checked(page, care=care, lang=lang)
    assert page.locator("[data-testid='demo-total']").inner_text() == "128,650.35"
    for path in ("/demo/accounts", "/demo/history"):
        page.click(f".demo-nav a[href='{path}']")
        page.wait_for_url(f"{server}{path}")
        checked(page, care=care, lang=lang)
    page.click(".demo-nav a[href='/demo/transfer']")
    page.wait_for_url(f"{server}/demo/transfer")
    checked(page, care=care, lang=lang)
    page.fill("#to_account_number", "622200001111")
    page.fill("#payee_name", "赵六")
    page.fill("#amount", "99.5")
    page.click("form[action='/demo/transfer'] button[type='submit']")
    page.wait_for_selector("[data-testid='demo-confirm-note']")
    checked(page, care=care, lang=lang)
    assert page.locator("[data-testid='confirm-amount']").inner_text().startswith("99.50")
    page.click("[data-testid='edit']")  # 返回修改 keeps what was typed
    page.wait_for_selector("#payee_name")
    assert page.input_value("#payee_name") == "赵六" and page.input_value("#amount") == "99.5"
    page.click("form[action='/demo/transfer'] button[type='submit']")
    page.wait_for_selector("[data-testid='demo-confirm-note']")
    page.click("form[action='/demo/transfer/confirm'] button")
    page.wait_for_selector("[data-testid='demo-done']")
    checked(page, care=care, lang=lang)
    # Leaving goes back to the login page; the demo pages then send to the intro.
    page.click("[data-demo-banner] button")
    page.wait_for_url(f"{server}/login")
    page.goto(f"{server}/demo/home")
    page.wait_for_url(f"{server}/demo?ended=1")
    close(page)


def test_a_wrong_amount_is_named_beside_its_field(server: str, browser: Any) -> None:
    page = open_page(browser, server, lang="zh", viewport=PHONE, care=False)
    page.goto(f"{server}/demo")
    page.click("form[action='/demo/start'] button")
    page.wait_for_url(f"{server}/demo/home")
    page.goto(f"{server}/demo/transfer?payee=0")
    assert page.input_value("#payee_name") == "李娜"
    page.fill("#amount", "1.234")
    page.click("form[action='/demo/transfer'] button[type='submit']")
    page.wait_for_selector(".error-summary")
    assert page.get_attribute("#amount", "aria-invalid") == "true"
    assert page.locator(".error-summary a[href='#amount']").is_visible()
    _check_page(page, care=False)
    close(page)


def test_two_visitors_at_once(server: str, browser: Any) -> None:
    one = open_page(browser, server, lang="zh", viewport=DESKTOP, care=False)
    two = open_page(browser, server, lang="en", viewport=PHONE, care=False)
    for page in (one, two):
        page.goto(f"{server}/demo")
        page.click("form[action='/demo/start'] button")
        page.wait_for_url(f"{server}/demo/home")
        page.goto(f"{server}/demo/transfer")
    one.fill("#payee_name", "访客甲")
    two.goto(f"{server}/demo/transfer")
    assert two.input_value("#payee_name") == ""
    close(one)
    close(two)
