"""Care mode (关爱版, 5.3.1) and the function search in Chromium, zh and en, desktop and
phone: computed type sizes, WCAG contrast computed here from the computed colours, tap
targets, the tel: link, the search box, page weight, and axe-core (installed by `make axe`
from package-lock.json, injected from ./node_modules, never fetched) with 0 WCAG 2.1 AA
violations on every page visited."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from browser.experience import DESKTOP, PHONE, close, login, new_page

pytestmark = pytest.mark.browser

AXE = Path(__file__).parents[2] / "node_modules" / "axe-core" / "axe.min.js"
CARE_PAGES = ["/accounts", "/transfer", "/payees", "/functions?q=zz", "/care"]
MAX_PAGE_BYTES = 60 * 1024

# Text and its effective background (the first opaque ancestor), as the browser computed them.
_COLOURS = """
() => [...document.querySelectorAll('main p, main a, main button, main label, main h1, main h2, ' +
  'main li, main td, main th, nav a, header a, header button, footer p')]
  .filter(e => e.offsetParent !== null && e.innerText.trim())
  .map(e => {
    let b = e, bg = 'rgba(0, 0, 0, 0)';
    while (b) { bg = getComputedStyle(b).backgroundColor;
      if (!bg.startsWith('rgba(0, 0, 0, 0)') && bg !== 'transparent') break; b = b.parentElement; }
    const s = getComputedStyle(e);
    return {text: e.innerText.trim().slice(0, 30), fg: s.color, bg: b ? bg : 'rgb(255, 255, 255)',
            size: parseFloat(s.fontSize), lh: parseFloat(s.lineHeight) || 0};
  })
"""


def _rgb(css: str) -> tuple[float, ...]:
    parts = css[css.index("(") + 1 : css.index(")")].replace("/", ",").split(",")
    return tuple(float(p) for p in parts[:3])


def _luminance(rgb: tuple[float, ...]) -> float:
    def channel(c: float) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg: str, bg: str) -> float:
    light, dark = sorted((_luminance(_rgb(fg)), _luminance(_rgb(bg))), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_contrast_formula() -> None:
    assert round(contrast("rgb(0, 0, 0)", "rgb(255, 255, 255)"), 1) == 21.0
    assert round(contrast("rgb(118, 118, 118)", "rgb(255, 255, 255)"), 2) == 4.54


def axe_page(browser: Any, *, lang: str, viewport: dict[str, int]) -> Any:
    """A new page with axe-core loaded into every document it opens (an init script, which
    the page's strict CSP does not govern)."""
    if not AXE.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("axe-core is missing: `make test` installs it (make axe)")
        pytest.skip("axe-core not installed (make axe)")
    page = new_page(browser, lang=lang, viewport=viewport)
    page.context.add_init_script(path=str(AXE))
    return page


def axe_violations(page: Any) -> list[dict[str, Any]]:
    result: dict[str, Any] = page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [
        {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result["violations"]
    ]


def _check_page(page: Any, *, care: bool) -> dict[str, float]:
    assert page.errors == [], page.errors  # no CSP violation, no script error
    size = len(page.content().encode())
    assert size < MAX_PAGE_BYTES, size
    assert axe_violations(page) == [], page.url
    texts = page.evaluate(_COLOURS)
    assert texts
    worst = min(contrast(t["fg"], t["bg"]) for t in texts)
    smallest = min(t["size"] for t in texts)
    assert worst >= 4.5, [t for t in texts if contrast(t["fg"], t["bg"]) < 4.5][:3]
    if care:
        assert page.locator("body.care").count() == 1
        body = float(page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)"))
        assert body >= 24  # MIIT: main text at least 18 pt
        assert smallest >= 18, [t for t in texts if t["size"] < 18][:3]
        assert all(t["lh"] >= 1.3 * t["size"] for t in texts if t["lh"])
        assert page.locator("a[href^='tel:']").first.is_visible()
        for link in page.locator("nav.mainnav a").all():
            box = link.bounding_box()
            assert box["height"] >= 60 and box["width"] >= 60, link.inner_text()
    return {"bytes": size, "contrast": round(worst, 2), "smallest": smallest}


@pytest.mark.parametrize(
    ("lang", "viewport"), [("zh", PHONE), ("en", DESKTOP), ("zh", DESKTOP), ("en", PHONE)]
)
def test_care_mode_pages(server: str, browser: Any, lang: str, viewport: dict[str, int]) -> None:
    page = axe_page(browser, lang=lang, viewport=viewport)
    page.goto(f"{server}/login?lang={lang}")
    figures = {"/login": _check_page(page, care=False)}
    page.click("[data-care-switch]")  # the switch on the login page, before logging in
    page.wait_for_selector("body.care")
    figures["/login care"] = _check_page(page, care=True)
    login(page, server, "wangfang", lang=lang)
    for path in CARE_PAGES:
        page.goto(f"{server}{path}")
        figures[path] = _check_page(page, care=True)
    # Simpler menu: the main tasks only.
    menu = page.locator("nav.mainnav a").all_inner_texts()
    assert len(menu) <= 4
    # Back to the standard look from the accounts page, remembered for this customer.
    page.goto(f"{server}/accounts")
    page.click("[data-care-switch]")
    page.wait_for_url(f"{server}/accounts")
    assert page.locator("body.care").count() == 0
    figures["/accounts standard"] = _check_page(page, care=False)
    print(f"care mode {lang} {viewport['width']}px: {figures}")
    close(page)


@pytest.mark.parametrize(("lang", "viewport"), [("zh", PHONE), ("en", DESKTOP)])
def test_search_box_one_tap(server: str, browser: Any, lang: str, viewport: dict[str, int]) -> None:
    page = axe_page(browser, lang=lang, viewport=viewport)
    login(page, server, "wangfang", lang=lang)
    page.fill("#top-q", "mm")
    page.press("#top-q", "Enter")
    page.wait_for_url(f"{server}/functions?q=mm")
    _check_page(page, care=False)
    page.locator("[data-hits] a").first.click()  # one tap to the function
    page.wait_for_url(f"{server}/password")
    page.fill("#top-q", "zz")
    page.press("#top-q", "Enter")
    page.locator("[data-hits] a").first.click()
    page.wait_for_url(f"{server}/transfer")
    close(page)


def test_care_mode_scales_with_the_browser_font_size(server: str, browser: Any) -> None:
    """Care mode's sizes are rem: the customer's own font setting still scales them."""
    sizes = {}
    for standard in (16, 20):
        page = axe_page(browser, lang="zh", viewport=PHONE)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Page.setFontSizes", {"fontSizes": {"standard": standard, "fixed": standard}})
        page.goto(f"{server}/login")
        page.click("[data-care-switch]")
        page.wait_for_selector("body.care")
        page.wait_for_load_state("load")  # the stylesheets, not only the body's class
        sizes[standard] = float(
            page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
        )
        close(page)
    assert sizes == {16: 24.0, 20: 30.0}
