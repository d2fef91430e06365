"""Issue 9 §7, the sweep: every customer page reachable from the main menu and the
全部功能 page, signed in as a demo customer, in Chinese and English, normal and care mode,
at 1366x768 and 390x844: axe-core finds 0 WCAG 2.1 AA violations, nothing scrolls
sideways at 320 px, the page's HTML stays under 60 KB and is served gzipped.

Bounded runtime: one browser, one context, one login; each page is loaded once per
language and mode and checked at the three widths by resizing the viewport (the pages
are responsive: media queries apply on resize, no script lays them out)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from browser.experience import DESKTOP, PHONE, close, login
from browser.test_care_browser import MAX_PAGE_BYTES, axe_page, axe_violations
from wangyin.web.compress import MINIMUM_SIZE

pytestmark = pytest.mark.browser

NARROW = {"width": 320, "height": 640}
# Pages a customer reaches from the home page itself (issue 9 §2), besides menu and 全部功能.
OWN_PAGES = ("/home", "/home/quick")
# Links that are not pages to check: leaving the site, or acting on a GET.
SKIP = ("/logout", "/password/forgot")
WHO = "zhangwei"
BUDGET_SECONDS = 240


def _paths(page: Any, server: str) -> list[str]:
    """The menu's links and the 全部功能 page's, as the customer sees them."""
    found = list(OWN_PAGES)
    page.goto(f"{server}/home")
    hrefs = page.eval_on_selector_all("nav.mainnav a", "els => els.map(e => e.href)")
    page.goto(f"{server}/functions")
    hrefs += page.eval_on_selector_all("main a[href]", "els => els.map(e => e.href)")
    for href in hrefs:
        parts = urlsplit(href)
        if not href.startswith(server) or parts.path in SKIP:
            continue
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if path not in found:
            found.append(path)
    return found


def _check(page: Any, server: str, path: str, where: str) -> dict[str, Any]:
    response = page.goto(f"{server}{path}")
    assert response is not None and response.ok, (where, path, response and response.status)
    assert urlsplit(page.url).path == urlsplit(path).path, (where, path, page.url)  # no bounce
    assert page.errors == [], (where, path, page.errors)  # no CSP violation, no script error
    size = len(response.body())
    assert size < MAX_PAGE_BYTES, (where, path, size)
    problems = {}
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        found = axe_violations(page)
        if found:
            problems[name] = found
    page.set_viewport_size(NARROW)
    wide = page.evaluate("document.documentElement.scrollWidth")
    page.set_viewport_size(DESKTOP)
    assert not problems, (where, path, problems)
    assert wide <= NARROW["width"], (where, path, f"{wide} px wide at 320 px")
    if not urlsplit(path).query:  # a page with a query string is never compressed (BREACH)
        served = page.request.get(f"{server}{path}", headers={"Accept-Encoding": "gzip"})
        assert served.headers.get("content-encoding") == "gzip", (where, path)
    return {"bytes": size}


def _static_gzipped(page: Any, server: str) -> None:
    """The stylesheets and scripts (and the SVG icon, were it larger) are served gzipped."""
    page.goto(f"{server}/home")
    assets = page.eval_on_selector_all(
        "link[rel=stylesheet], link[rel=icon], script[src]", "els => els.map(e => e.href || e.src)"
    )
    assert len(assets) >= 4
    for url in assets:
        served = page.request.get(url, headers={"Accept-Encoding": "gzip"})
        assert served.ok, url
        if len(served.body()) < MINIMUM_SIZE:
            continue  # a tiny file (the icon) gains nothing from gzip
        assert served.headers.get("content-encoding") == "gzip", url


def _care(page: Any, server: str, on: bool) -> None:
    page.goto(f"{server}/care")
    if (page.locator("body.care").count() == 1) != on:
        page.click("[data-care-switch]")
        page.wait_for_load_state()
    assert page.locator("body.care").count() == (1 if on else 0)


def test_every_page_in_every_language_and_mode(server: str, browser: Any) -> None:
    started = time.monotonic()
    page = axe_page(browser, lang="zh", viewport=DESKTOP)
    login(page, server, WHO, lang="zh")
    paths = _paths(page, server)
    _static_gzipped(page, server)
    assert {"/home", "/accounts", "/transfer", "/payees", "/functions", "/security"} <= set(paths)
    sizes: dict[str, int] = {}
    try:
        for lang in ("zh", "en"):
            page.goto(f"{server}/home?lang={lang}")  # the choice sticks (its cookie)
            for care in (False, True):
                _care(page, server, care)
                for path in paths:
                    where = f"{lang} {'care' if care else 'normal'}"
                    sizes[path] = max(
                        sizes.get(path, 0), _check(page, server, path, where)["bytes"]
                    )
    finally:
        _care(page, server, False)  # the demo customer's choice as the other tests expect it
        close(page)
    elapsed = time.monotonic() - started
    print(f"pages: {paths}")
    print(
        f"{len(paths)} pages x 2 languages x 2 modes in {elapsed:.0f} s; largest: "
        f"{sorted(sizes.items(), key=lambda kv: -kv[1])[:3]}"
    )
    assert elapsed < BUDGET_SECONDS
