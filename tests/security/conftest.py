"""Attack-style tests (issue 11): the bank of tests/functional (an app on a fresh SQLite
database with a frozen clock and three customers), plus a browser-like cookie session."""

from __future__ import annotations

import uuid
from typing import Any

from factories import DEFAULT_PASSWORD
from factories.bank import credential_of
from functional.conftest import Bank, assert_problem, bank

__all__ = ["Bank", "assert_problem", "bank", "prepare", "web_login"]


def hidden_csrf(html: str) -> str:
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def web_login(bank: Bank, who: str = "zhangwei") -> str:
    """Log in through the login page as a browser does (its bound device cookie, the
    double-submit token); the client then holds the session cookie. Returns the session's
    CSRF token, read from a page as the site's own script would."""
    client = bank.client
    page = client.get("/login")
    # The bound device's cookie, and no other (an earlier page may have set a new one).
    if "wy_device" in client.cookies:
        client.cookies.delete("wy_device")
    client.cookies.set("wy_device", credential_of(who))
    done = client.post(
        "/login",
        data={"login": who, "password": DEFAULT_PASSWORD, "csrf_token": hidden_csrf(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert "/verify" not in done.headers["location"], "the device was not recognised"
    security = client.get("/security", follow_redirects=False)
    assert security.status_code == 200, (security.status_code, security.text[:200])
    return hidden_csrf(security.text)


def prepare(bank: Bank, who: str = "zhangwei", **overrides: Any) -> Any:
    """POST /api/v1/transfers from A to B (李娜) with a fresh Idempotency-Key."""
    body = {
        "from_account_id": bank.a.account.public_id,
        "to_account_number": bank.b.account.account_number,
        "payee_name": "李娜",
        "amount": "12.34",
        "currency": "CNY",
        "remark": "",
        **overrides,
    }
    return bank.client.post(
        "/api/v1/transfers",
        json=body,
        headers={**bank.headers[who], "Idempotency-Key": uuid.uuid4().hex},
    )
