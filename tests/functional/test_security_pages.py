"""The security center page renders its sections for a logged-in customer (web UI)."""

from __future__ import annotations

from factories import DEFAULT_PASSWORD
from factories.bank import credential_of
from functional.conftest import Bank


def test_security_center_page_shows_every_section(bank: Bank) -> None:
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
    for section in (
        'id="freeze"',
        'id="step-up"',
        'id="limits"',
        'id="password-free"',
        'id="pin"',
        'id="devices"',
        'id="logins"',
    ):
        assert section in html
    assert "安全中心" in html
    log = client.get("/security/log")
    assert log.status_code == 200 and "操作日志" in log.text
