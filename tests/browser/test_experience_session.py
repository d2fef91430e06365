"""Issue 9 §1, WCAG 2.2.1: 60 s before an idle session ends the page warns with a way to
stay logged in; at the end it logs out, and the login page says why. The page's clock is
Playwright's (no waiting for minutes)."""

from __future__ import annotations

from typing import Any

import pytest

from browser.experience import DESKTOP, PHONE, close, login, new_page

pytestmark = pytest.mark.browser

LOGGED_OUT = {
    "zh": "为了您的安全，您在 5 分钟无操作后已自动退出，请重新登录。",
    "en": "For your safety you were logged out after 5 minutes without activity.",
}


@pytest.mark.parametrize(("lang", "viewport"), [("zh", PHONE), ("en", DESKTOP)])
def test_timeout_warning_stay_and_reason(
    server: str, browser: Any, lang: str, viewport: dict[str, int]
) -> None:
    page = new_page(browser, lang=lang, viewport=viewport)
    login(page, server, "lina", lang=lang)
    page.clock.install()
    page.reload()
    warning = page.locator("#timeout")
    left = int(warning.get_attribute("data-session-left"))
    assert 240 <= left <= 300
    assert not warning.is_visible()
    page.clock.fast_forward((left - 61) * 1000)
    assert not warning.is_visible()
    page.clock.fast_forward(2_000)
    assert warning.is_visible()
    assert warning.get_attribute("role") == "alertdialog"
    stay = warning.locator("[data-stay]")
    assert page.evaluate("document.activeElement.hasAttribute('data-stay')")
    assert stay.bounding_box()["height"] >= 44
    with page.expect_response("**/security/keepalive") as answer:
        stay.click()
    assert answer.value.status == 200
    assert answer.value.json() == {"seconds_left": 300}
    warning.wait_for(state="hidden")
    # Staying restarted the count: no warning until 60 s before the new end.
    page.clock.fast_forward(200_000)
    assert not warning.is_visible()
    page.clock.fast_forward(41_000)
    assert warning.is_visible()
    with page.expect_navigation():
        page.clock.fast_forward(61_000)
    page.wait_for_url("**/login?timeout=1")
    assert page.get_by_test_id("logged-out").inner_text() == LOGGED_OUT[lang]
    page.goto(page.url.split("/login")[0] + "/accounts")
    assert "/login" in page.url  # the session really ended
    assert page.errors == []
    close(page)
