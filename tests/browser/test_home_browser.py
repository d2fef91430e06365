"""The home page in Chromium (issue 9 §2): the hide-amounts eye hides every amount, keeps
the focus, says its state (aria-pressed, its label) and is remembered after a reload and
on the accounts page; the quick functions pinned and moved with buttons and the keyboard
persist; desktop and phone, zh and en, care mode, axe-core clean."""

from __future__ import annotations

import re
from typing import Any

import pytest

from browser.experience import DESKTOP, PHONE, close, login
from browser.test_care_browser import _check_page, axe_page, axe_violations

pytestmark = pytest.mark.browser

WHO = "lina"
ON_ROW = "document.activeElement.closest('#fn-log') !== null"
LABELS = {"zh": ("隐藏金额", "显示金额"), "en": ("Hide amounts", "Show amounts")}


def _home(server: str, browser: Any, lang: str, viewport: dict[str, int]) -> Any:
    """A new browser (axe-core loaded) signed in as WHO, on the home page."""
    page = axe_page(browser, lang=lang, viewport=viewport)
    login(page, server, WHO, lang=lang)
    page.goto(f"{server}/home")
    return page


def _hidden(page: Any, selector: str) -> bool:
    return bool(
        page.evaluate(
            f"getComputedStyle(document.querySelector({selector!r})).visibility === 'hidden'"
            f" && getComputedStyle(document.querySelector({selector!r}), '::after').content"
            " === '\"****\"'"
        )
    )


@pytest.mark.parametrize(("lang", "viewport"), [("zh", PHONE), ("en", DESKTOP)])
def test_the_eye_hides_every_amount_and_is_remembered(
    server: str, browser: Any, lang: str, viewport: dict[str, int]
) -> None:
    page = _home(server, browser, lang, viewport)
    eye = page.locator("[data-eye]")
    hide, show = LABELS[lang]
    assert eye.get_attribute("aria-pressed") == "false" and eye.inner_text() == hide
    assert not _hidden(page, "[data-testid=total-assets]")
    box = eye.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 44
    eye.click()
    page.wait_for_selector("[data-eye][aria-pressed=true]")
    assert eye.inner_text() == show
    assert page.evaluate("document.activeElement.hasAttribute('data-eye')")  # focus stays
    for selector in ("[data-testid=total-assets]", "[data-testid=month-income]", ".recent .amount"):
        assert _hidden(page, selector), selector
    assert axe_violations(page) == []
    page.reload()  # remembered by the bank, not by the page
    assert eye.get_attribute("aria-pressed") == "true"
    assert _hidden(page, "[data-testid=total-assets]")
    page.goto(f"{server}/accounts")
    assert eye.get_attribute("aria-pressed") == "true"
    assert _hidden(page, ".account .amount") and _hidden(page, ".account .available")
    eye.focus()
    page.keyboard.press("Enter")  # the keyboard works the same
    page.wait_for_selector("[data-eye][aria-pressed=false]")
    page.reload()
    assert eye.get_attribute("aria-pressed") == "false" and eye.inner_text() == hide
    assert not _hidden(page, ".account .amount")
    assert page.errors == []
    close(page)


def _grid(page: Any) -> list[str]:
    keys: list[str] = page.eval_on_selector_all(
        "[data-testid=quick-grid] a[data-key]", "els => els.map(e => e.dataset.key)"
    )
    return keys


@pytest.mark.parametrize(("lang", "viewport"), [("zh", PHONE), ("en", DESKTOP)])
def test_pin_and_reorder_quick_functions_with_the_keyboard(
    server: str, browser: Any, lang: str, viewport: dict[str, int]
) -> None:
    page = _home(server, browser, lang, viewport)
    before = _grid(page)
    assert "log" not in before and len(before) <= 8
    page.get_by_test_id("edit-quick").click()
    page.wait_for_url(f"{server}/home/quick")
    assert axe_violations(page) == []
    for button in page.locator("main button").all():
        if button.is_visible():
            assert button.bounding_box()["height"] >= 44
    page.locator("#fn-log button[value=pin]").click()
    page.wait_for_url(re.compile(r".*/home/quick\?moved=log&did=pin$"))
    # Back on the moved function's row, where the keyboard left off.
    assert page.evaluate(ON_ROW)
    page.locator("#fn-log button[value=up]").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.evaluate(ON_ROW)
    page.goto(f"{server}/home")
    after = _grid(page)
    assert after == [*before[:-1], "log", before[-1]]
    page.reload()
    assert _grid(page) == after  # kept by the bank
    page.goto(f"{server}/home/quick")
    page.locator("#fn-log button[value=unpin]").click()  # as it was, for the other tests
    page.wait_for_url(re.compile(r".*moved=log&did=unpin$"))
    page.goto(f"{server}/home")
    assert _grid(page) == before
    assert page.errors == []
    close(page)


@pytest.mark.parametrize(("lang", "viewport"), [("zh", PHONE), ("en", DESKTOP)])
def test_home_in_care_mode(server: str, browser: Any, lang: str, viewport: dict[str, int]) -> None:
    page = _home(server, browser, lang, viewport)
    page.click("[data-care-switch]")  # the care switch is on the home page too
    page.wait_for_url(f"{server}/home")
    try:
        figures = {path: None for path in ("/home", "/home/quick")}
        for path in figures:
            page.goto(f"{server}{path}")
            figures[path] = _check_page(page, care=True)
        page.goto(f"{server}/home")
        for target in (page.locator("[data-eye]"), *page.locator(".tile").all()):
            box = target.bounding_box()
            assert box["height"] >= 60 and box["width"] >= 60
        print(f"home in care mode {lang} {viewport['width']}px: {figures}")
    finally:
        page.goto(f"{server}/home")
        page.click("[data-care-switch]")
        page.wait_for_url(f"{server}/home")
        assert page.locator("body.care").count() == 0
    close(page)
