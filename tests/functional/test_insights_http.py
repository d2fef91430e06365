"""收支分析 over HTTP (issue 9 §5): the JSON API (monthly, categories, balance, entries,
category corrections with problem+json on bad input and someone else's line), the pages
with their chart images, tables and summaries in zh and en, care mode, and the SVG routes
(no script, served as image/svg+xml, never inlined in a page)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from functional.conftest import Bank, assert_problem
from integration.test_insights_aggregates import book
from wangyin.accounts.models import Account
from wangyin.identity.pages import SESSION_COOKIE
from wangyin.uow import run_write

# The bank fixture's clock: 2026-03-02 10:00 in Beijing.
IN_MARCH = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
IN_FEBRUARY = datetime(2026, 2, 10, 1, 0, tzinfo=UTC)


def _history(bank: Bank) -> dict[str, str]:
    def write(s: Session) -> dict[str, str]:
        account = s.get_one(Account, bank.a.account.id)
        return {
            "feb": book(s, account, -100_00, at=IN_FEBRUARY, memo="超市", who="盒马鲜生"),
            "lunch": book(s, account, -32_50, at=IN_MARCH, memo="午餐", who="美团外卖"),
            "taxi": book(s, account, -18_00, at=IN_MARCH, memo="打车", who="滴滴出行"),
            "salary": book(s, account, 9_000_00, at=IN_MARCH, memo="工资", who="某某科技"),
        }

    return run_write(bank.db, write)


def _pages_as(bank: Bank, who: str, lang: str = "zh") -> None:
    token = bank.headers[who]["Authorization"].removeprefix("Bearer ")
    bank.client.cookies.set(SESSION_COOKIE, token)
    bank.client.cookies.set("lang", lang)


def test_monthly_api(bank: Bank) -> None:
    _history(bank)
    body = bank.client.get(
        "/api/v1/insights/monthly", headers={**bank.headers["zhangwei"], "Accept-Language": "zh"}
    ).json()
    assert [m["month"] for m in body["months"]][-2:] == ["2026-02", "2026-03"]
    assert len(body["months"]) == 12
    march = body["months"][-1]
    assert march == {
        "month": "2026-03",
        "income": "19000.00",
        "spending": "50.50",
    }  # with the opening deposit
    assert body["summary"] == "本月支出 50.50 元，比上月少 50%，收入 19,000.00 元。"


def test_categories_api_and_corrections(bank: Bank) -> None:
    ids = _history(bank)
    headers = {**bank.headers["zhangwei"], "Accept-Language": "en"}
    body = bank.client.get("/api/v1/insights/categories?month=2026-03", headers=headers).json()
    assert [(c["category"], c["spending"]) for c in body["categories"]] == [
        ("dining", "32.50"),
        ("transport", "18.00"),
    ]
    assert body["previous_month_spending"] == "100.00"
    assert body["summary"].startswith("In Mar 2026 you spent 50.50 yuan, 50% less than last month")
    moved = bank.client.put(
        f"/api/v1/insights/entries/{ids['taxi']}/category",
        json={"category": "dining", "always_for_counterparty": True},
        headers=headers,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["category"] == "dining" and moved.json()["corrected"] == "entry"
    body = bank.client.get("/api/v1/insights/categories?month=2026-03", headers=headers).json()
    assert [(c["category"], c["spending"]) for c in body["categories"]] == [("dining", "50.50")]
    again = bank.client.post(
        f"/api/v1/insights/entries/{ids['taxi']}/category",
        json={"category": "transport"},
        headers=headers,
    )
    assert again.json()["category"] == "transport"
    lines = bank.client.get("/api/v1/insights/entries?month=2026-03", headers=headers).json()
    assert {line["id"]: line["category"] for line in lines}[ids["taxi"]] == "transport"


def test_bad_input_is_problem_json(bank: Bank) -> None:
    ids = _history(bank)
    headers = bank.headers["zhangwei"]
    for month in ("2026-3", "2026-13", "2030-01", "1999-12", "x" * 19, "2026-03-01"):
        response = bank.client.get(f"/api/v1/insights/categories?month={month}", headers=headers)
        assert_problem(response, "invalid_month", 422)
    assert_problem(
        bank.client.get("/api/v1/insights/categories?month=" + "9" * 40, headers=headers),
        "validation_error",
        422,
    )
    assert_problem(
        bank.client.put(
            f"/api/v1/insights/entries/{ids['taxi']}/category",
            json={"category": "bogus"},
            headers=headers,
        ),
        "invalid_category",
        422,
    )
    assert_problem(
        bank.client.get("/api/v1/insights/balance?account=nope", headers=headers),
        "account_not_found",
        404,
    )
    assert bank.client.get("/api/v1/insights/monthly").status_code == 401


def test_someone_elses_line_and_account_are_not_found(bank: Bank) -> None:
    ids = _history(bank)
    lina = bank.headers["lina"]
    assert_problem(
        bank.client.put(
            f"/api/v1/insights/entries/{ids['lunch']}/category",
            json={"category": "other"},
            headers=lina,
        ),
        "statement_line_not_found",
        404,
    )
    assert_problem(
        bank.client.get(
            f"/api/v1/insights/balance?account={bank.a.account.public_id}", headers=lina
        ),
        "account_not_found",
        404,
    )
    # Nothing changed for its owner.
    mine = bank.client.get(
        "/api/v1/insights/entries?month=2026-03", headers=bank.headers["zhangwei"]
    ).json()
    assert {line["id"]: line["corrected"] for line in mine}[ids["lunch"]] == ""


def test_balance_api(bank: Bank) -> None:
    _history(bank)
    body = bank.client.get("/api/v1/insights/balance", headers=bank.headers["zhangwei"]).json()
    assert body["account_id"] == bank.a.account.public_id
    assert body["points"][-1] == {"month": "2026-03", "balance": "18849.50"}
    assert body["points"][-2] == {"month": "2026-02", "balance": "9900.00"}


def test_pages_show_chart_table_and_summary(bank: Bank) -> None:
    ids = _history(bank)
    _pages_as(bank, "zhangwei", "zh")
    for path in ("/insights", "/insights/categories?month=2026-03", "/insights/balance"):
        page = bank.client.get(path)
        assert page.status_code == 200, page.text[:500]
        text = page.text
        assert "收支分析" in text
        assert 'data-testid="chart"' in text and "<table" in text
        assert re.search(r'<img src="/insights/[a-z]+\.svg\?', text)
        assert "<svg" not in text and "<script>" not in text and "<style" not in text
        assert len(page.content) < 60_000
    page = bank.client.get("/insights/categories?month=2026-03")
    assert "本月" not in page.text or "2026年3月支出 50.50 元" in page.text
    assert "餐饮" in page.text and f"/insights/entries/{ids['lunch']}" in page.text
    _pages_as(bank, "zhangwei", "en")
    page = bank.client.get("/insights")
    assert "Income and spending analysis" in page.text
    assert "This month you spent 50.50 yuan, 50% less than last month" in page.text


def test_svg_routes_serve_images_without_script(bank: Bank) -> None:
    _history(bank)
    _pages_as(bank, "zhangwei", "zh")
    for path in (
        "/insights/monthly.svg",
        "/insights/monthly.svg?layout=narrow",
        "/insights/categories.svg?month=2026-03",
        "/insights/balance.svg",
    ):
        response = bank.client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("image/svg+xml")
        assert "no-store" in response.headers["cache-control"]
        assert response.text.startswith("<svg") and "<script" not in response.text
        assert "kozea.github.io" not in response.text  # nothing from a CDN
    categories = bank.client.get("/insights/categories.svg?month=2026-03").text
    assert "餐饮" in categories and "交通" in categories
    normal = bank.client.get("/insights/monthly.svg").text
    bank.client.cookies.set("wy_care", "1")
    care = bank.client.get("/insights/monthly.svg").text
    assert "font-size:22px" in care.replace(" ", "") and "font-size:22px" not in normal.replace(
        " ", ""
    )
    assert "url(#wy-hatch)" in care  # spending is hatched: colour is not the only signal
    assert bank.client.get("/insights/categories.svg?month=bad").status_code == 422


def test_correcting_a_category_on_the_page(bank: Bank) -> None:
    ids = _history(bank)
    _pages_as(bank, "zhangwei", "zh")
    form = bank.client.get(f"/insights/entries/{ids['taxi']}")
    assert form.status_code == 200 and "交通" in form.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    saved = bank.client.post(
        f"/insights/entries/{ids['taxi']}",
        data={"csrf_token": token, "category": "shopping", "always": "1"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/insights/categories?month=2026-03&done=1"
    page = bank.client.get(saved.headers["location"])
    assert "分类已保存" in page.text and "购物" in page.text
    refused = bank.client.post(
        f"/insights/entries/{ids['taxi']}",
        data={"csrf_token": token, "category": "nope"},
    )
    assert refused.status_code == 422 and "没有这个分类" in refused.text
    no_csrf = bank.client.post(f"/insights/entries/{ids['taxi']}", data={"category": "other"})
    assert no_csrf.status_code == 403
    # Someone else's line: not found, on the page as on the API.
    _pages_as(bank, "lina", "zh")
    assert bank.client.get(f"/insights/entries/{ids['taxi']}").status_code == 404


def test_found_by_the_function_search_and_linked_from_home(bank: Bank) -> None:
    for query in ("收支", "szfx", "图表", "spending"):
        items = bank.client.get("/api/v1/functions", params={"q": query}).json()["items"]
        assert items and items[0]["url"] == "/insights", (query, items[:2])
    _pages_as(bank, "zhangwei", "zh")
    assert 'href="/insights"' in bank.client.get("/functions").text
    home = bank.client.get("/home")
    assert 'data-testid="insights-link"' in home.text and "收支分析" in home.text
