"""Issue 9 §2 over HTTP: the quick-functions API (validated against the catalogue, per
customer), the eye's API and its no-script form (CSRF), the pin/reorder page, the
suggestions in the customer's language, and gzip on pages but never on /api/ (§7)."""

from __future__ import annotations

import gzip

from functional.conftest import Bank, assert_problem
from wangyin.home.preferences import QUICK_DEFAULTS, QUICK_MAX
from wangyin.web.context import SESSION_COOKIE

QUICK = "/api/v1/home/quick-functions"
PREFS = "/api/v1/home/preferences"


def _browser(bank: Bank, who: str) -> str:
    """The client becomes `who`'s browser (the session cookie); returns the page's CSRF."""
    token = bank.headers[who]["Authorization"].removeprefix("Bearer ")
    bank.client.cookies.set(SESSION_COOKIE, token)
    page = bank.client.get("/home")
    assert page.status_code == 200, page.text[:300]
    return page.text.split('name="csrf_token" value="')[1].split('"')[0]


def test_quick_functions_default_then_saved_per_customer(bank: Bank) -> None:
    lina, zhang = bank.headers["lina"], bank.headers["zhangwei"]
    first = bank.client.get(QUICK, headers=lina).json()
    assert [f["key"] for f in first["pinned"]] == list(QUICK_DEFAULTS)
    assert first["defaults"] is True and first["max"] == QUICK_MAX
    assert "functions" not in {f["key"] for f in first["available"]}
    saved = bank.client.put(QUICK, json={"pinned": ["log", "accounts"]}, headers=lina)
    assert saved.status_code == 200, saved.text
    assert [f["key"] for f in saved.json()["pinned"]] == ["log", "accounts"]
    assert saved.json()["pinned"][0] == {"key": "log", "title": "操作日志", "url": "/security/log"}
    assert bank.client.get(QUICK, headers=lina).json()["defaults"] is False
    # Another customer's grid is untouched, and each sees only their own.
    assert [f["key"] for f in bank.client.get(QUICK, headers=zhang).json()["pinned"]] == list(
        QUICK_DEFAULTS
    )
    home = bank.client.get("/api/v1/home", headers={**lina, "Accept-Language": "en"}).json()
    assert [f["title"] for f in home["quick_functions"]] == ["Operation log", "My accounts"]


def test_quick_functions_refused_against_the_catalogue(bank: Bank) -> None:
    lina = bank.headers["lina"]
    cases = {
        "unknown_function": ["accounts", "steal"],
        "duplicate_function": ["accounts", "accounts"],
        "too_many_quick_functions": [
            f["key"] for f in bank.client.get(QUICK, headers=lina).json()["available"]
        ][:9],
    }
    for code, keys in cases.items():
        assert_problem(bank.client.put(QUICK, json={"pinned": keys}, headers=lina), code, 422)
    assert_problem(
        bank.client.put(QUICK, json={"pinned": ["a"], "owner": "x"}, headers=lina),
        "validation_error",
    )
    assert bank.client.get(QUICK, headers=lina).json()["defaults"] is True  # nothing saved
    assert bank.client.get(QUICK).status_code == 401
    assert bank.client.put(QUICK, json={"pinned": []}).status_code == 401


def test_the_eye_through_the_api_and_a_cookie_session_needs_its_csrf_header(bank: Bank) -> None:
    lina = bank.headers["lina"]
    assert bank.client.get(PREFS, headers=lina).json() == {"amounts_hidden": False}
    assert bank.client.put(PREFS, json={"amounts_hidden": True}, headers=lina).status_code == 200
    assert bank.client.get("/api/v1/home", headers=lina).json()["amounts_hidden"] is True
    assert bank.client.get(PREFS, headers=bank.headers["zhangwei"]).json() == {
        "amounts_hidden": False
    }
    csrf = _browser(bank, "lina")
    refused = bank.client.put(PREFS, json={"amounts_hidden": False})  # no X-CSRF-Token
    assert refused.status_code == 403
    ok = bank.client.put(PREFS, json={"amounts_hidden": False}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200 and ok.json() == {"amounts_hidden": False}


def test_the_eye_form_works_without_script_and_checks_csrf(bank: Bank) -> None:
    csrf = _browser(bank, "zhangwei")
    page = bank.client.get("/accounts").text
    assert 'data-eye aria-pressed="false"' in page
    refused = bank.client.post(
        "/home/amounts", data={"hidden": "1", "next": "/accounts"}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert 'aria-pressed="false"' in bank.client.get("/home").text
    done = bank.client.post(
        "/home/amounts",
        data={"csrf_token": csrf, "hidden": "1", "next": "/accounts"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/accounts"
    assert 'data-eye aria-pressed="true"' in bank.client.get("/accounts").text
    assert 'data-eye aria-pressed="true"' in bank.client.get("/home").text
    # `next` goes only back to a page with the eye: never elsewhere, never off-site.
    for target in ("https://evil.example/", "//evil.example", "/security"):
        away = bank.client.post(
            "/home/amounts",
            data={"csrf_token": csrf, "hidden": "0", "next": target},
            follow_redirects=False,
        )
        assert away.headers["location"] == "/home"


def test_pin_and_reorder_from_the_page(bank: Bank) -> None:
    csrf = _browser(bank, "lina")
    page = bank.client.get("/home/quick")
    assert page.status_code == 200 and 'data-testid="pinned"' in page.text

    def act(action: str, key: str, token: str = csrf) -> int:
        data = {"csrf_token": token, "action": action, "key": key}
        return bank.client.post("/home/quick", data=data, follow_redirects=False).status_code

    assert act("pin", "log") == 303
    assert act("up", "log") == 303
    assert act("unpin", "transfer") == 303
    assert act("pin", "log", token="forged") == 403
    keys = [f["key"] for f in bank.client.get(QUICK, headers=bank.headers["lina"]).json()["pinned"]]
    assert keys == ["accounts", "mobile_transfer", "payees", "schedules", "log", "security"]
    home = bank.client.get("/home").text
    assert home.index('data-key="log"') < home.index('data-key="security"')
    # A refusal is shown on the page, in words.
    for key in ("transfer", "faq_code", "interbank"):
        act("pin", key)
    refused = bank.client.post(
        "/home/quick", data={"csrf_token": csrf, "action": "pin", "key": "receipt_verify"}
    )
    assert refused.status_code == 422 and "最多只能固定 8 个常用功能" in refused.text


def test_public_edition_gets_no_transfer_suggestions(bank: Bank) -> None:
    body = bank.client.get("/api/v1/home", headers=bank.headers["wangfang"]).json()
    assert {s["kind"] for s in body["suggestions"]} <= {"security"}
    assert any(s["url"] == "/security/limits" for s in body["suggestions"])
    en = bank.client.get("/api/v1/home", headers={**bank.headers["lina"], "Accept-Language": "en"})
    zh = bank.client.get("/api/v1/home", headers={**bank.headers["lina"], "Accept-Language": "zh"})
    assert "Lower your transfer limits" in {s["title"] for s in en.json()["suggestions"]}
    assert "调低转账限额" in {s["title"] for s in zh.json()["suggestions"]}


def test_pages_css_js_are_gzipped_but_never_the_api(bank: Bank) -> None:
    _browser(bank, "lina")
    gz = {"Accept-Encoding": "gzip"}
    page = bank.client.get("/home", headers=gz)
    assert page.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in page.headers["vary"]
    assert page.headers["content-security-policy"]  # the security headers still there
    css = bank.client.get("/static/app.css", headers=gz)
    assert css.headers["content-encoding"] == "gzip"
    raw = bank.client.get("/static/app.css", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers
    assert gzip.compress(raw.content) and len(raw.content) > 1000
    api = bank.client.get("/api/v1/home", headers={**bank.headers["lina"], **gz})
    assert "content-encoding" not in api.headers  # the transfer hot path's CPU budget
    searched = bank.client.get("/functions?q=zz", headers=gz)
    assert "content-encoding" not in searched.headers  # reflects the query: BREACH
