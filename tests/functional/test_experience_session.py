"""Issue 9 §1 (WCAG 2.2.1): "Stay logged in" restarts the idle time, and the login page
says why a customer whose session ended finds themselves there."""

from __future__ import annotations

from functional.conftest import Bank
from security.conftest import web_login
from wangyin.identity import service as identity
from wangyin.uow import run_write

LOGGED_OUT = "为了您的安全，您在 5 分钟无操作后已自动退出，请重新登录。"


def test_keepalive_restarts_the_idle_time(bank: Bank) -> None:
    csrf = web_login(bank)
    client = bank.client
    page = client.get("/accounts")
    assert 'data-session-left="300"' in page.text or 'data-session-left="240"' in page.text
    assert client.post("/security/keepalive").status_code == 403  # no CSRF header
    bank.clock.advance(minutes=4)
    stayed = client.post("/security/keepalive", headers={"X-CSRF-Token": csrf})
    assert stayed.status_code == 200 and stayed.json() == {"seconds_left": 300}
    bank.clock.advance(minutes=4)
    assert client.get("/accounts", follow_redirects=False).status_code == 200
    bank.clock.advance(minutes=6)
    ended = client.post(
        "/security/keepalive", headers={"X-CSRF-Token": csrf}, follow_redirects=False
    )
    assert ended.status_code == 303  # to the login page: the session is over


def test_login_page_says_why_the_session_ended(bank: Bank) -> None:
    web_login(bank)
    client = bank.client
    assert LOGGED_OUT not in client.get("/login").text  # a live session: nothing to say
    bank.clock.advance(minutes=6)
    redirected = client.get("/accounts", follow_redirects=False)
    assert redirected.status_code == 303 and redirected.headers["location"] == "/login"
    login = client.get("/login")
    assert LOGGED_OUT in login.text
    assert 'wy_session=""' in login.headers.get("set-cookie", "")  # said once
    assert LOGGED_OUT not in client.get("/login").text
    assert LOGGED_OUT in client.get("/login?timeout=1").text  # the page's own logout


def test_login_page_names_the_cause_it_knows(bank: Bank) -> None:
    """A session ended elsewhere (a password change ends the others) is not called an
    idle timeout."""
    web_login(bank)
    token = bank.client.cookies.get("wy_session") or ""
    now = bank.clock.now()
    run_write(bank.db, lambda s: identity.end_session(s, token=token, at=now))
    ended = bank.client.get("/login").text
    assert "您的登录已在别处结束" in ended and LOGGED_OUT not in ended


def test_login_page_names_the_absolute_limit(bank: Bank) -> None:
    web_login(bank)
    bank.clock.advance(hours=9)
    expired = bank.client.get("/login").text
    assert "每次登录最长 8 小时" in expired and LOGGED_OUT not in expired
