"""Batch transfers in a browser, at desktop and phone width: upload a GBK file with a bad
line and see it named, upload a good one, confirm the whole batch once (the code and the
soft keyboard), see it being executed. The worker's execution is tested without a browser
(tests/integration/test_batches.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from browser.experience import DESKTOP, PHONE, close, latest_code, login, new_page
from browser.test_transfer_journey import PEOPLE, _payee_account, _type_pin
from wangyin import seed

VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}


def _file(payee: str, *, bad: bool) -> bytes:
    rows = ["收款账号,收款人户名,金额,附言", f"{payee},李娜,1.50,午餐", f"{payee},李娜,2.50,车费"]
    if bad:
        rows.append("12x,李娜,abc,")
    return "\r\n".join(rows).encode("gbk")


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_upload_check_and_confirm_a_batch(server: str, browser: Any, viewport: str) -> None:
    page = new_page(browser, viewport=VIEWPORTS[viewport])
    login(page, server, "zhangwei")
    page.click("nav.mainnav >> text=批量转账")
    page.wait_for_url(re.compile(r".*/transfer/batches$"))
    assert page.get_by_test_id("template-xlsx").is_visible()
    payee = _payee_account(server)

    files = {"name": "pay.csv", "mimeType": "text/csv"}
    page.set_input_files("#file", {**files, "buffer": _file(payee, bad=True)})
    page.get_by_test_id("upload").click()
    page.wait_for_url(re.compile(r".*/transfer/batches/[^/]+$"))
    assert "有 1 行存在错误" in page.get_by_test_id("batch-invalid").inner_text()
    assert "收款账号须为 10 到 30 位数字" in page.get_by_test_id("batch-lines").inner_text()
    assert page.get_by_test_id("confirm").count() == 0  # nothing to confirm: nothing is half-done

    page.goto(f"{server}/transfer/batches")
    page.set_input_files("#file", {**files, "buffer": _file(payee, bad=False)})
    page.get_by_test_id("upload").click()
    page.wait_for_url(re.compile(r".*/transfer/batches/[^/]+$"))
    assert page.get_by_test_id("batch-count").inner_text() == "2"
    assert page.get_by_test_id("batch-total").inner_text() == "4.00 CNY"
    page.get_by_test_id("send-code").click()
    page.wait_for_url(re.compile(r".*\?sent=sms$"))
    page.fill("#code", latest_code(server, PEOPLE["zhangwei"].mobile))
    _type_pin(page, "transaction_password", seed.DEMO_PIN)
    page.get_by_test_id("confirm").click()
    page.wait_for_url(re.compile(r".*/transfer/batches/[^/?]+$"))
    assert page.get_by_test_id("batch-executing").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[viewport]["width"]
    assert page.errors == []
    close(page)
