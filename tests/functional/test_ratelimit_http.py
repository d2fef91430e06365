"""Per-IP rate limits over HTTP: the 21st login from one address within a minute is a 429
problem (API) or the plain-words page (web), and the next minute on the clock lets it in."""

from __future__ import annotations

from fastapi import FastAPI

from functional.conftest import Bank, assert_problem


def api_login(bank: Bank, who: str, lang: str = "en"):  # type: ignore[no-untyped-def]
    return bank.client.post(
        "/api/v1/auth/login",
        json={"login": who, "password": "not-the-password"},
        headers={"Accept-Language": lang},
    )


def test_the_21st_api_login_from_one_ip_within_a_minute_is_refused(bank: Bank) -> None:
    bank.clock.advance(minutes=5)  # a window of its own, apart from the fixture's logins
    for i in range(20):
        # Another name each time: one name alone meets its own, lower limit (issue 11 #12).
        response = api_login(bank, f"nobody{i}")
        assert response.status_code != 429, f"login {i + 1} refused"
    refused = api_login(bank, "nobody")
    body = assert_problem(refused, "rate_limited", 429)
    assert body["title"] == "Too many requests. Please wait a moment."
    assert refused.headers["retry-after"] == "60"
    bank.clock.advance(seconds=30)
    assert api_login(bank, "nobody", lang="zh").json()["title"] == "请求过于频繁，请稍候再试。"
    assert api_login(bank, "nobody").headers["retry-after"] == "30"
    bank.clock.advance(seconds=30)  # the minute is over
    assert api_login(bank, "nobody").status_code != 429


def test_the_limit_counts_web_and_api_logins_together_and_shows_a_page(bank: Bank) -> None:
    bank.clock.advance(minutes=5)
    for _ in range(10):
        assert api_login(bank, "nobody").status_code != 429
    for _ in range(10):
        response = bank.client.post("/login", data={"login": "nobody", "password": "x"})
        assert response.status_code != 429
    page = bank.client.post(
        "/login", data={"login": "nobody", "password": "x"}, headers={"Accept-Language": "en"}
    )
    assert page.status_code == 429
    assert page.headers["content-type"].startswith("text/html")
    assert "Too many requests. Please wait a moment." in page.text
    # Other routes are not limited, and neither is a GET of the login page.
    assert bank.client.get("/login").status_code == 200
    assert bank.client.get("/api/v1/accounts", headers=bank.headers["zhangwei"]).status_code == 200


def test_registration_is_limited_per_hour(bank: Bank) -> None:
    for _ in range(10):
        response = bank.client.post("/api/v1/auth/register", json={})
        assert response.status_code == 422
    assert_problem(bank.client.post("/api/v1/auth/register", json={}), "rate_limited", 429)
    bank.clock.advance(minutes=59)
    assert bank.client.post("/register", data={}).status_code == 429
    bank.clock.advance(minutes=1)
    assert bank.client.post("/api/v1/auth/register", json={}).status_code == 422


def test_code_requests_are_limited_on_any_path_ending_in_code_or_otp(bank: Bank) -> None:
    app = bank.client.app
    assert isinstance(app, FastAPI)

    @app.post("/api/v1/test-only/code", status_code=204)
    def _send_code() -> None:
        return None

    bank.clock.advance(minutes=5)
    for _ in range(10):
        assert bank.client.post("/api/v1/test-only/code").status_code == 204
    assert_problem(bank.client.post("/api/v1/test-only/code"), "rate_limited", 429)
    bank.clock.advance(minutes=1)
    assert bank.client.post("/api/v1/test-only/code").status_code == 204
