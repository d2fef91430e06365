"""Issue 9 §1: history search with empty optional fields, the customer's CSV export, and
the compact history on a phone."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

import pytest

from browser.experience import DESKTOP, PHONE, close, login, new_page

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def history(server: str, browser: Any) -> Any:
    """张伟's CNY current account history, logged in once for the module."""
    page = new_page(browser, viewport=DESKTOP)
    login(page, server, "zhangwei")
    page.locator("a.account-link").first.click()
    page.wait_for_selector("table.history")
    yield page
    close(page)


def _search(page: Any, **fields: str) -> int:
    """Fill only the given filter fields (the others stay empty) and search."""
    page.goto(page.url.split("?")[0])
    for name, value in fields.items():
        if name == "direction":
            page.select_option("select[name=direction]", value)
        else:
            page.fill(f"form.filters [name={name}]", value)
    with page.expect_navigation() as navigation:
        page.click("form.filters button[type=submit]")
    status: int = navigation.value.status
    return status


def test_search_with_only_some_fields_filled(history: Any) -> None:
    month_ago = (date.today() - timedelta(days=30)).isoformat()
    assert _search(history, **{"from": month_ago}) == 200
    assert history.locator("table.history tbody tr").count() > 0
    assert _search(history, min_amount="100") == 200
    amounts = history.locator("table.history tbody td.amount").all_inner_texts()
    assert amounts and all(
        float(a.split()[0].replace(",", "").lstrip("+-")) >= 100 for a in amounts
    )
    today = date.today().isoformat()
    assert _search(history, **{"from": month_ago, "to": today, "direction": ""}) == 200
    assert "有信息未填写" not in history.content()
    assert history.errors == []


def test_a_bad_amount_is_named_beside_its_field(history: Any) -> None:
    assert _search(history, min_amount="12.345") == 200
    link = history.locator(".error-summary a[href='#min_amount']")
    assert link.inner_text() == "CNY 金额最多 2 位小数。"
    box = history.locator("#min_amount")
    assert box.get_attribute("aria-invalid") == "true"
    assert box.get_attribute("aria-describedby") == "min_amount-error"
    assert box.input_value() == "12.345"  # kept, to correct
    assert history.locator("table.history tbody tr").count() > 0  # the history still shows


def test_api_takes_empty_fields_as_no_filter(history: Any, server: str) -> None:
    account = history.url.split("/accounts/")[1].split("?")[0]
    base = f"{server}/api/v1/accounts/{account}/transactions"
    everything = history.request.get(base)
    empty = history.request.get(f"{base}?from=&to=&direction=&min_amount=&max_amount=")
    assert empty.status == 200, empty.text()
    assert empty.json()["lines"] == everything.json()["lines"]
    assert history.request.get(f"{base}?from=2026-02-30").status == 422  # not a date


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_csv_in_the_customers_language_and_beijing_time(history: Any, lang: str) -> None:
    history.goto(history.url.split("?")[0] + f"?lang={lang}")
    first_time = history.locator("table.history tbody tr").first.locator("td").first.inner_text()
    href = history.locator("a[download]").get_attribute("href")
    response = history.request.get(history.url.split("/accounts/")[0] + href)
    rows = list(csv.reader(io.StringIO(response.body().decode("utf-8-sig"))))
    expected = {
        "zh": ["交易时间（北京时间）", "收支", "金额"],
        "en": ["Time (Beijing)", "Direction", "Amount"],
    }
    assert rows[0][:3] == expected[lang]
    # The page shows Beijing time; the export says the same minute, not the UTC one.
    assert rows[1][0][:16] == first_time.strip()
    assert rows[1][1] in ({"收入", "支出"} if lang == "zh" else {"Money in", "Money out"})


def test_phone_history_is_a_compact_list(server: str, browser: Any) -> None:
    page = new_page(browser, viewport=PHONE)
    login(page, server, "lina")
    page.locator("a.account-link").first.click()
    page.wait_for_selector("table.history")  # the click navigates: wait for the new page
    rows = page.locator("table.history tbody tr")
    assert rows.count() == 20
    height = page.evaluate(
        "(() => { const r = [...document.querySelectorAll('table.history tbody tr')];"
        " return r[r.length - 1].getBoundingClientRect().bottom"
        " - r[0].getBoundingClientRect().top; })()"
    )
    print(f"20 history lines at 390 px: {height:.0f} px")
    # Two lines of text per transaction, not a five-row card (4,433 px before).
    assert height < 20 * 90
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.errors == []
    close(page)
