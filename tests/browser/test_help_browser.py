"""Help in Chromium (5.2.1-d): the FAQ page searched without script, and the contextual
help on the login form (a hint the field points at, a disclosure linking to the FAQ), at
desktop and phone width, zh and en, normal and care mode; axe-core 0 violations, contrast,
care-mode sizes and page weight as in test_care_browser."""

from __future__ import annotations

from typing import Any

import pytest

from browser.experience import DESKTOP, PHONE, close
from browser.test_care_browser import _check_page, axe_page

pytestmark = pytest.mark.browser

CASES = [
    ("zh", DESKTOP, False),
    ("en", PHONE, False),
    ("zh", PHONE, True),
    ("en", DESKTOP, True),
]


def open_page(browser: Any, server: str, *, lang: str, viewport: dict[str, int], care: bool) -> Any:
    page = axe_page(browser, lang=lang, viewport=viewport)
    if care:
        page.context.add_cookies([{"name": "wy_care", "value": "1", "url": server}])
    page.goto(f"{server}/login?lang={lang}")  # the language chosen first sticks
    return page


def no_sideways_scroll(page: Any) -> None:
    assert page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    ), page.url


@pytest.mark.parametrize(("lang", "viewport", "care"), CASES)
def test_the_faq_page(
    server: str, browser: Any, lang: str, viewport: dict[str, int], care: bool
) -> None:
    page = open_page(browser, server, lang=lang, viewport=viewport, care=care)
    page.goto(f"{server}/help")
    _check_page(page, care=care)
    no_sideways_scroll(page)
    assert page.locator("section.card h2").count() == 8  # the topics
    page.fill("#faq-q", "手续费" if lang == "zh" else "fee")
    page.press("#faq-q", "Enter")
    page.wait_for_url("**/help?q=*")
    hits = page.locator("[data-faq-hits] h3")
    assert hits.count() >= 1
    expected = "网银转账收手续费吗？" if lang == "zh" else "Does a transfer cost a fee?"
    assert hits.first.inner_text() == expected
    _check_page(page, care=care)
    close(page)


@pytest.mark.parametrize(("lang", "viewport", "care"), CASES)
def test_the_login_forms_help(
    server: str, browser: Any, lang: str, viewport: dict[str, int], care: bool
) -> None:
    page = open_page(browser, server, lang=lang, viewport=viewport, care=care)
    described = page.get_attribute("#login", "aria-describedby") or ""
    assert "help-login-hint" in described.split()
    assert page.locator("#help-login-hint").is_visible()
    disclosure = page.locator("[data-form-help='login']")
    link = disclosure.locator("a[href='/help#faq_locked']")
    assert not link.is_visible()  # closed until asked for
    summary = disclosure.locator("summary")
    box = summary.bounding_box()
    assert box["height"] >= (60 if care else 44)
    summary.click()
    assert link.is_visible()
    _check_page(page, care=care)
    no_sideways_scroll(page)
    link.click()
    page.wait_for_url("**/help#faq_locked")
    assert page.locator("#faq_locked").is_visible()
    close(page)
