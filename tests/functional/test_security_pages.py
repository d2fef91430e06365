"""The security center: a menu of tasks, each on its own page (web UI, issue 9)."""

from __future__ import annotations

import re

from factories import DEFAULT_PASSWORD
from factories.bank import credential_of
from functional.conftest import Bank


def test_security_center_is_a_menu_of_task_pages(bank: Bank) -> None:
    client = bank.client
    client.cookies.set("wy_device", credential_of("zhangwei"))
    page = client.get("/login")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post(
        "/login",
        data={"login": "zhangwei", "password": DEFAULT_PASSWORD, "csrf_token": csrf},
        follow_redirects=False,
    )
    html = client.get("/security").text
    assert "安全中心" in html
    # A menu of tasks (issue 9), each on its own page with at most one soft keyboard.
    pages = {
        "/security/limits": 'id="limits"',
        "/security/password-free": 'id="password-free"',
        "/security/devices": 'id="devices"',
        "/security/freeze": 'id="freeze"',
        "/security/transaction-password": 'id="pin"',
        "/security/logins": 'id="logins"',
    }
    for path, section in pages.items():
        assert f'href="{path}"' in html
        page = client.get(path)
        assert page.status_code == 200 and section in page.text, path
    assert html.count("data-softkb=") == 0
    # Limits grouped, with the unit (not 5000000.00).
    assert re.search(r"\d{1,3}(,\d{3})+\.\d{2} 元", client.get("/security/limits").text)
    confirm = client.get("/security/freeze/all")
    assert 'value="all"' in confirm.text and "确定冻结全部网上银行服务吗" in confirm.text
    assert 'value="all"' not in client.get("/security/freeze").text  # one click asks first
    log = client.get("/security/log")
    assert log.status_code == 200 and "操作日志" in log.text


def test_limits_form_names_the_field_and_takes_grouped_amounts(bank: Bank) -> None:
    from security.conftest import web_login

    csrf = web_login(bank)
    refused = bank.client.post(
        "/security/limits",
        data={"csrf_token": csrf, "single_limit": "1,000.00", "daily_limit": "2000.005"},
    )
    assert refused.status_code == 422
    html = refused.text
    assert 'id="daily_limit-error"' in html and 'id="single_limit-error"' not in html
    assert 'href="#daily_limit"' in html
    assert re.search(r'id="daily_limit"[^>]*aria-invalid="true"', html)
    lowered = bank.client.post(
        "/security/limits",
        data={"csrf_token": csrf, "single_limit": "1,000.00", "daily_limit": "2,000.00"},
        follow_redirects=False,
    )
    assert lowered.status_code == 303  # grouped as shown, and lowering needs no code
    assert "1,000.00 元" in bank.client.get("/security/limits").text
