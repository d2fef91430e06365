"""Issue 9 §1: the security centre as a menu of tasks with one soft keyboard per page,
devices and the operation log in the customer's words, limits as people write them, and
freezing everything asked once more."""

from __future__ import annotations

import re
from typing import Any

import pytest

from browser.experience import DESKTOP, PHONE, close, login, new_page

pytestmark = pytest.mark.browser

WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


@pytest.mark.parametrize(("lang", "viewport"), [("zh", PHONE), ("en", DESKTOP)])
def test_menu_of_tasks_one_keyboard_each(
    server: str, browser: Any, lang: str, viewport: dict[str, int]
) -> None:
    page = new_page(browser, lang=lang, viewport=viewport)
    login(page, server, "lina", lang=lang)
    page.goto(f"{server}/security")
    tasks = page.locator("ul.tasks a")
    assert tasks.count() == 7
    assert page.locator("[data-softkb]").count() == 0
    height = page.evaluate("document.documentElement.scrollHeight")
    print(f"security centre {lang} at {viewport['width']} px: {height} px high")
    assert height < 1600  # a menu, not the 3,000-px page of every setting
    for box in tasks.all():
        assert box.bounding_box()["height"] >= 44
    for href in [t.get_attribute("href") for t in tasks.all()]:
        page.goto(f"{server}{href}")
        assert page.locator("h1").count() == 1
        keyboards = page.locator("[data-softkb]")
        visible = [k for k in keyboards.all() if k.is_visible()]
        assert len(visible) <= 1, href  # one soft keyboard at a time
        back = page.locator("a.back").first.bounding_box()
        assert back["height"] >= 44, href
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    assert page.errors == []
    close(page)


def test_changing_the_pin_shows_one_keyboard_at_a_time(server: str, browser: Any) -> None:
    page = new_page(browser)
    login(page, server, "lina")
    page.goto(f"{server}/security/transaction-password")
    page.locator("[data-softkb=old_pin] button[data-pos]:not([disabled])").first.wait_for()
    assert page.locator("[data-softkb=old_pin]").is_visible()
    assert not page.locator("[data-softkb=new_pin]").is_visible()
    assert not page.locator("button[type=submit].primary").is_visible()
    page.locator("[data-step='1'] button[data-next]").click()
    assert page.locator("[data-softkb=new_pin]").is_visible()
    assert not page.locator("[data-softkb=old_pin]").is_visible()
    page.locator("[data-step='2'] button[data-next]").click()
    assert page.locator("[data-softkb=new_pin_again]").is_visible()
    assert page.locator("button[type=submit].primary").is_visible()
    close(page)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_devices_log_and_limits_in_plain_words(server: str, browser: Any, lang: str) -> None:
    context = browser.new_context(
        viewport=DESKTOP, user_agent=WINDOWS_CHROME, locale="zh-CN" if lang == "zh" else "en-US"
    )
    page = context.new_page()
    login(page, server, "wangfang", lang=lang)

    page.goto(f"{server}/security/devices")
    device = page.get_by_test_id("device").first.inner_text()
    words = {
        "zh": ("Windows 上的 Chrome", "网页", "首次使用", "最近使用", "地点: 未知"),
        "en": ("Chrome on Windows", "Web", "First used", "Last used", "Place: unknown"),
    }
    for word in words[lang]:
        assert word in device, device
    assert "Mozilla" not in page.content()

    page.goto(f"{server}/security/limits")
    single = page.get_by_test_id("single-limit").inner_text()
    assert re.fullmatch(
        r"\d{1,3}(,\d{3})+\.\d{2} 元" if lang == "zh" else r"CNY \d{1,3}(,\d{3})+\.\d{2}", single
    ), single
    assert re.search(r"5,000,000\.00", page.locator("label[for=single_limit]").inner_text())

    page.goto(f"{server}/security/log")
    log = page.locator("table.history tbody").inner_text()
    for developer in ("reason:", "reasons:", "step:", "['", "_", "purpose"):
        assert developer not in log, developer
    assert re.search(r"[0-9a-f]{8}-[0-9a-f]{4}", log) is None  # no ids
    if lang == "zh":
        assert "在未使用过的设备上登录" in log and "用于绑定新设备（短信发送）" in log
        words = page.locator("table.history tbody td:not([data-label=IP])").all_inner_texts()
        assert not re.search(r"[A-Za-z]{4,}", " ".join(words))  # nothing left in English
    else:
        assert "a device you had not used before" in log
        assert "to bind a new device (by SMS)" in log
    context.close()


def test_freeze_everything_asks_first(server: str, browser: Any) -> None:
    page = new_page(browser, viewport=PHONE)
    login(page, server, "wangfang")
    page.goto(f"{server}/security/freeze")
    page.get_by_test_id("freeze-all").click()
    page.wait_for_url(re.compile(r".*/security/freeze/all$"))
    assert page.get_by_test_id("freeze-all-confirm").is_visible()
    page.get_by_role("link", name="取消").click()
    page.goto(f"{server}/accounts")  # nothing was frozen: the accounts still open
    assert page.locator("a.account-link").count() >= 1
    close(page)
