"""收支分析 in Chromium (issue 9 §5, §7): at 1366x768 and 390x844, zh and en, normal and
care mode, each chart page shows its chart (the SVG image loaded, from our own route),
its data table and its summary; the page has no script error or CSP violation, weighs
under 60 KB, and axe-core finds 0 WCAG 2.1 AA violations (the checks of
test_care_browser: contrast, and in care mode the type sizes and targets). A category is
corrected on its page and the chart follows."""

from __future__ import annotations

from typing import Any

import pytest

from browser.experience import DESKTOP, PHONE, close, login
from browser.test_care_browser import _check_page, axe_page

pytestmark = pytest.mark.browser

PAGES = ["/insights", "/insights/categories", "/insights/balance"]


def _chart_shown(page: Any) -> dict[str, Any]:
    image = page.locator("img[data-testid=chart]")
    image.wait_for()
    assert image.is_visible()
    page.wait_for_function(
        "() => { const i = document.querySelector('img[data-testid=chart]');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    box = image.bounding_box()
    least = min(300, page.viewport_size["width"] * 0.75)
    assert box["width"] >= least and box["height"] >= 150, box
    assert page.locator("table[data-testid=chart-table]").count() == 1
    assert page.locator("table[data-testid=chart-table] tbody tr").count() >= 1
    summary = page.locator("[data-testid=chart-summary]").inner_text().strip()
    assert summary
    # The picture chose the drawing for this width (narrow on phones).
    return {"src": page.evaluate("document.querySelector('img[data-testid=chart]').currentSrc")}


@pytest.mark.parametrize(
    ("lang", "viewport", "care"),
    [
        ("zh", DESKTOP, False),
        ("en", PHONE, False),
        ("zh", PHONE, True),
        ("en", DESKTOP, True),
    ],
)
def test_chart_pages(
    server: str, browser: Any, lang: str, viewport: dict[str, int], care: bool
) -> None:
    page = axe_page(browser, lang=lang, viewport=viewport)
    if care:
        page.goto(f"{server}/login?lang={lang}")
        page.click("[data-care-switch]")
        page.wait_for_selector("body.care")
    login(page, server, "zhangwei", lang=lang)
    seen = {}
    for path in PAGES:
        page.goto(f"{server}{path}")
        shown = _chart_shown(page)
        narrow = "layout=narrow" in shown["src"]
        assert narrow == (viewport is PHONE), shown
        seen[path] = _check_page(page, care=care)
        # The chart picture itself was served as SVG by our route, not inlined.
        assert page.locator("main svg").count() == 0
    print(f"insights {lang} {viewport['width']}px care={care}: {seen}")
    close(page)


def test_correct_a_category_in_the_browser(server: str, browser: Any) -> None:
    page = axe_page(browser, lang="zh", viewport=PHONE)
    login(page, server, "zhangwei", lang="zh")
    page.goto(f"{server}/insights/categories")
    first = page.locator("ul.entries a").first
    first.click()
    page.wait_for_selector("select#category")
    _check_page(page, care=False)
    page.select_option("select#category", "wealth")
    page.check("input[name=always]")
    page.click("button[type=submit].primary")
    page.wait_for_selector("p.notice")
    assert "分类已保存" in page.locator("p.notice").inner_text()
    assert "理财" in page.locator("table[data-testid=chart-table]").inner_text()
    _chart_shown(page)
    _check_page(page, care=False)
    close(page)


@pytest.mark.parametrize("care", [False, True])
def test_no_sideways_scroll_at_320px(server: str, browser: Any, care: bool) -> None:
    """WCAG 1.4.10 (issue 9): nothing scrolls sideways at 320 px, care mode's large figures
    included (a wide table scrolls inside its own box)."""
    page = axe_page(browser, lang="zh", viewport={"width": 320, "height": 640})
    if care:
        page.goto(f"{server}/login?lang=zh")
        page.click("[data-care-switch]")
        page.wait_for_selector("body.care")
    login(page, server, "zhangwei", lang="zh")
    for path in [*PAGES, "/insights/categories?month="]:
        page.goto(f"{server}{path}")
        _chart_shown(page)
        wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wide <= 0, (path, wide)
    close(page)
