"""The home page and GET /api/v1/home (issue 9 §2)."""

from __future__ import annotations

from functional.conftest import Bank
from wangyin.home.service import to_cny_minor


def test_foreign_currency_counts_in_cny_at_the_stated_rate() -> None:
    rates = {"CNY": "1", "USD": "7.30"}
    assert to_cny_minor(100_00, "USD", rates) == 730_00
    assert to_cny_minor(1, "USD", rates) == 7  # 1 cent = 7.3 fen, rounded to whole fen
    assert to_cny_minor(5_00, "XYZ", rates) is None


def test_home_api_totals_assets_and_gives_tips(bank: Bank) -> None:
    body = bank.client.get("/api/v1/home", headers=bank.headers["lina"]).json()
    assert body["total_assets_cny"].replace(",", "") == "500.00"
    assert body["month_spending_cny"].replace(",", "") == "0.00"
    assert len(body["security_tips"]) >= 3
    assert isinstance(body["recent"], list)


def test_home_api_needs_a_session(bank: Bank) -> None:
    assert bank.client.get("/api/v1/home").status_code == 401


def test_home_page_renders_for_a_signed_in_customer(bank: Bank) -> None:
    from wangyin.identity.pages import SESSION_COOKIE

    token = bank.headers["lina"]["Authorization"].removeprefix("Bearer ")
    bank.client.cookies.set(SESSION_COOKIE, token)
    page = bank.client.get("/home", headers={"Accept-Language": "en"})
    assert page.status_code == 200, page.text[:500]
    assert 'data-testid="total-assets"' in page.text
    assert 'href="/home" aria-current="page"' in page.text  # the menu link
    assert "<script>" not in page.text  # CSP: no inline script
    assert len(page.content) < 60_000
    assert bank.client.get("/", follow_redirects=False).headers["location"] == "/home"


def test_home_page_in_chinese(bank: Bank) -> None:
    from wangyin.identity.pages import SESSION_COOKIE

    token = bank.headers["lina"]["Authorization"].removeprefix("Bearer ")
    bank.client.cookies.set(SESSION_COOKIE, token)
    bank.client.cookies.set("lang", "zh")
    page = bank.client.get("/home", headers={"Accept-Language": "zh-CN"})
    assert "总资产" in page.text and "安全提示" in page.text
