"""Issue 9 §1: the browser's font-size setting scales the whole UI (rem, not px), tap
targets of at least 44 px, Log out away from Change password on a phone, and no
sideways scroll at 320 px."""

from __future__ import annotations

import re
from typing import Any

import pytest

from browser.experience import DESKTOP, PHONE, close, login, new_page

pytestmark = pytest.mark.browser


def _px(page: Any, selector: str, prop: str) -> float:
    value: str = page.evaluate(f"getComputedStyle(document.querySelector({selector!r})).{prop}")
    return float(value.removesuffix("px"))


def test_the_browser_font_size_scales_the_ui(server: str, browser: Any) -> None:
    sizes = {}
    for standard in (16, 24):
        page = new_page(browser)
        cdp = page.context.new_cdp_session(page)
        # The customer's font-size setting (chrome://settings/fonts), as the browser has it.
        cdp.send("Page.setFontSizes", {"fontSizes": {"standard": standard, "fixed": standard}})
        page.goto(f"{server}/login")
        sizes[standard] = {
            "body": _px(page, "body", "fontSize"),
            "h1": _px(page, "h1", "fontSize"),
            "input": page.locator("#login").bounding_box()["height"],
            "card": _px(page, ".card", "paddingTop"),
        }
        close(page)
    print(f"login page at 16 px and 24 px: {sizes}")
    assert sizes[16]["body"] == 16 and sizes[24]["body"] == 24
    for part in ("h1", "input", "card"):
        assert sizes[24][part] >= sizes[16][part] * 1.4, part  # everything grows, not only text


@pytest.mark.parametrize(("lang", "viewport"), [("zh", PHONE), ("en", DESKTOP)])
def test_tap_targets_and_log_out_apart(
    server: str, browser: Any, lang: str, viewport: dict[str, int]
) -> None:
    page = new_page(browser, lang=lang, viewport=viewport)
    page.goto(f"{server}/login?lang={lang}")
    lang_switch = page.locator("nav.lang a").bounding_box()
    assert lang_switch["height"] >= 44 and lang_switch["width"] >= 44
    login(page, server, "wangfang", lang=lang)
    for link in page.locator("nav.mainnav a").all():
        assert link.bounding_box()["height"] >= 44, link.inner_text()
    logout = page.locator("form[action='/logout'] button").first
    assert logout.bounding_box()["height"] >= 44
    assert page.locator("nav.mainnav form[action='/logout']").count() == 0
    password = page.locator("nav.mainnav a[href='/password']").bounding_box()
    out = logout.bounding_box()
    # Not side by side: another row (the header) or far along the same one.
    assert out["y"] + out["height"] <= password["y"] or abs(out["x"] - password["x"]) > 200
    page.locator("a.account-link").first.click()
    page.wait_for_url(re.compile(r"/accounts/[^/?]+$"))  # the click navigates: wait for it
    assert page.locator("a.back").bounding_box()["height"] >= 44
    assert page.errors == []
    close(page)


def test_no_sideways_scroll_at_320_px(server: str, browser: Any) -> None:
    page = new_page(browser, viewport={"width": 320, "height": 640})
    login(page, server, "wangfang")
    for path in (
        "/accounts",
        "/security",
        "/security/limits",
        "/security/devices",
        "/security/log",
        "/security/transaction-password",
        "/password",
    ):
        page.goto(f"{server}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 320, path
    page.goto(f"{server}/accounts")
    page.locator("a.account-link").first.click()  # the history list
    page.wait_for_url(re.compile(r"/accounts/[^/?]+$"))  # the click navigates: wait for it
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    close(page)
