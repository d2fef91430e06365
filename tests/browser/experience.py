"""What the experience tests (test_experience_*.py) share: logging a demo customer in
once per browser context and reading the dev SMS inbox."""

from __future__ import annotations

from typing import Any

import httpx

from browser.test_transfer_journey import _latest_code, _login
from wangyin import seed

PEOPLE = {p.username: p for p in seed.PEOPLE if p.username}
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
LOCALES = {"zh": "zh-CN", "en": "en-US"}


def messages(server: str, phone: str) -> list[dict[str, Any]]:
    """What the dev SMS gateway delivered to this phone, newest first."""
    found: list[dict[str, Any]] = httpx.get(
        f"{server}/api/v1/dev/messages", params={"phone": phone}
    ).json()
    return found


def latest_code(server: str, phone: str) -> str:
    return str(_latest_code(server, phone))


def new_page(browser: Any, *, lang: str = "zh", viewport: dict[str, int] = DESKTOP) -> Any:
    """A fresh browser (its own cookies) whose every page load must be free of script
    errors and CSP violations: `page.errors` collects them."""
    context = browser.new_context(viewport=viewport, locale=LOCALES[lang])
    page = context.new_page()
    page.errors = []

    def console(message: Any) -> None:
        # A refused form answers 4xx on purpose (422 with the errors), which chromium logs.
        refused = message.text.startswith(
            "Failed to load resource: the server responded with a status of 4"
        )
        if message.type == "error" and not refused:
            page.errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page


def login(page: Any, server: str, who: str, *, lang: str = "zh") -> None:
    """Password, then the SMS code and the ID number bind this browser as a device; the
    language chosen first sticks (its cookie)."""
    page.goto(f"{server}/login?lang={lang}")
    _login(page, server, who)


def close(page: Any) -> None:
    page.context.close()
