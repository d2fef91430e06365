"""A customer logs in, transfers money and finds it in both histories — on a desktop
and on a phone-sized screen, in Chinese and in English."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from wangyin import seed
from wangyin.client import WangyinClient

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 740}}


PEOPLE = {p.username: p for p in seed.PEOPLE if p.username}


def _latest_code(server: str, phone: str) -> str:
    """The newest one-time code the dev SMS gateway delivered to this phone."""
    messages = httpx.get(f"{server}/api/v1/dev/messages", params={"phone": phone}).json()
    latest = next(m for m in messages if m["purpose"] != "balance_change")
    found = re.search(r"\b(\d{6})\b", latest["text"])
    assert found, latest
    return found.group(1)


def _api_token(server: str, login: str) -> str:
    """The server runs in "required" mode: the API login goes through the secure channel."""
    with WangyinClient(server, device_id=f"browser-test-api-{login}") as api:
        body = api.login(
            login,
            seed.DEMO_PASSWORD,
            code_callback=lambda _challenge: _latest_code(server, PEOPLE[login].mobile),
            id_number=PEOPLE[login].id_number,
        )
    return str(body["token"])


def _payee_account(server: str) -> str:
    accounts = httpx.get(
        f"{server}/api/v1/accounts",
        headers={"Authorization": f"Bearer {_api_token(server, 'lina')}"},
    ).json()["accounts"]
    return next(a["account_number"] for a in accounts if a["currency"] == "CNY")


def _login(page: Any, server: str, login: str) -> None:
    """A new browser: password, then the SMS code and the ID number bind it as a device."""
    page.goto(f"{server}/login")
    page.fill("#login", login)
    page.fill("#password", seed.DEMO_PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r".*/login/verify/.+"))
    page.click("button[name=channel][value=sms]")
    page.wait_for_url(re.compile(r".*sent=sms$"))
    page.fill("#code", _latest_code(server, PEOPLE[login].mobile))
    page.fill("#id_number", PEOPLE[login].id_number)
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r".*/home$"))  # customers land on the home page
    # The journeys that follow start from the accounts page, as they did before /home.
    page.goto(f"{server}/accounts")


def _type_pin(page: Any, name: str, pin: str) -> None:
    """The soft keyboard: half the digits on the on-screen keys (in their random order),
    the rest on the physical keyboard; the page never holds the clear PIN."""
    board = page.locator(f"[data-softkb={name}]")
    board.locator("button[data-pos]:not([disabled])").first.wait_for()
    keys = board.locator("button[data-pos]").all_inner_texts()
    assert sorted(keys) == list("0123456789")  # all ten digits, in the layout's order
    for key in board.locator("button.key").all():
        box = key.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44  # tap targets
    half = len(pin) // 2
    for digit in pin[:half]:
        board.get_by_role("button", name=digit, exact=True).click()
    board.locator("button[data-action=physical]").click()
    assert board.locator("button[data-action=physical]").get_attribute("aria-pressed") == "true"
    page.keyboard.type(pin[half:])
    assert page.locator(f"#{name}").inner_text() == "\u2022" * len(pin)
    values = page.evaluate("[...document.querySelectorAll('input')].map(i => i.value).join('|')")
    assert pin not in values and pin not in page.content()


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_login_transfer_and_see_it_in_history(
    server: str, browser: Any, viewport: str, tmp_path: Any
) -> None:
    errors: list[str] = []
    context = browser.new_context(viewport=VIEWPORTS[viewport], locale="zh-CN")
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    _login(page, server, "zhangwei")
    assert page.locator("h1").inner_text().startswith("张伟")
    assert page.get_by_text("总余额").first.is_visible()

    page.click("nav.mainnav >> text=转账")
    payee = _payee_account(server)
    remark = f"浏览器测试-{viewport}"
    page.fill("#to_account_number", payee)
    page.fill("#payee_name", "李娜")
    page.fill("#amount", "88.80")
    page.fill("#remark", remark)
    page.click("button[type=submit].primary")

    page.wait_for_url(re.compile(r".*/transfer/.+/confirm$"))
    assert page.get_by_test_id("confirm-amount").inner_text() == "88.80 CNY"
    assert page.get_by_test_id("confirm-payee").inner_text() == "李娜"
    assert page.get_by_test_id("confirm-to").inner_text().endswith(payee[-4:])
    assert re.match(
        r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", page.get_by_test_id("confirm-time").inner_text()
    )
    page.click("button[name=channel][value=sms]")
    page.wait_for_url(re.compile(r".*/confirm\?sent=sms$"))
    sms = httpx.get(
        f"{server}/api/v1/dev/messages", params={"phone": PEOPLE["zhangwei"].mobile}
    ).json()[0]["text"]
    assert payee[-4:] in sms and "88.80 CNY" in sms  # the code names payee and amount
    page.fill("#code", _latest_code(server, PEOPLE["zhangwei"].mobile))
    _type_pin(page, "transaction_password", seed.DEMO_PIN)
    page.screenshot(path=str(tmp_path / f"confirm-{viewport}.png"), full_page=True)
    page.click("form[action$='/confirm'] button[type=submit].primary")

    page.wait_for_url(re.compile(r".*/transfer/[^/]+$"))
    assert "转账成功" in page.locator("h1").inner_text()
    assert page.get_by_test_id("result-status").inner_text() == "已完成"

    page.click("text=查看明细")
    row = page.locator("table.history tbody tr").first
    assert remark in row.inner_text()
    assert "-88.80" in row.inner_text()
    assert "李*" in row.inner_text()  # the payee's name is masked in the payer's history

    # The payee sees the money arrive.
    other = browser.new_context(viewport=VIEWPORTS[viewport], locale="zh-CN")
    payee_page = other.new_page()
    _login(payee_page, server, "lina")
    payee_page.locator("a.account-link").first.click()
    payee_page.wait_for_selector("table.history")  # the click navigates: wait for the new page
    incoming = payee_page.locator("table.history tbody tr").first
    assert remark in incoming.inner_text()
    assert "+88.80" in incoming.inner_text()

    # Nothing overflows sideways on a phone.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[viewport]["width"]
    assert errors == []  # no CSP violation, no script error
    other.close()
    context.close()


def test_english_switch_and_plain_error(server: str, browser: Any) -> None:
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    page.goto(f"{server}/login?lang=en")
    assert page.locator("h1").inner_text() == "Log in to online banking"
    page.fill("#login", "lina")
    page.fill("#password", "not-the-password1")
    page.click("button[type=submit].primary")
    assert page.locator("#form-error").inner_text() == "The login name or password is incorrect."
    _login(page, server, "zhangwei")
    assert page.locator("h1").inner_text().startswith("Hello")  # the choice stuck (cookie)
    page.click("nav.mainnav >> text=Transfer")
    page.fill("#to_account_number", "6217000000000000000")
    page.fill("#payee_name", "Nobody")
    page.fill("#amount", "1")
    page.click("button[type=submit].primary")
    assert "does not exist" in page.locator("#form-error").inner_text()
    context.close()


def test_public_edition_sees_why_it_cannot_transfer(server: str, browser: Any) -> None:
    context = browser.new_context(viewport=VIEWPORTS["phone"], locale="zh-CN")
    page = context.new_page()
    _login(page, server, "wangfang")
    assert "大众版" in page.locator(".notice").inner_text()
    page.goto(f"{server}/transfer")
    assert "专业版" in page.locator("#form-error").inner_text()
    assert page.locator("#to_account_number").count() == 0
    context.close()
