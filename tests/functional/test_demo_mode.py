"""The demo without registration (演示模式, 5.2.3-d) over HTTP: from the login page to a
demo home, accounts and history under a 演示 banner, the transfer walked to its confirm
page and past it without moving money, the session's end on the injected clock, visitors
kept apart, the per-IP start limit, and a write attempt refused with the ledger unchanged."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from functional.conftest import Bank, assert_problem
from wangyin.demo import service
from wangyin.demo.guard import DEMO_COOKIE
from wangyin.verify import verify_all


def _csrf(html: str) -> str:
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def start_demo(client: TestClient) -> str:
    """Login page -> 先体验一下 -> start: the visitor lands on the demo home."""
    login = client.get("/login")
    assert 'href="/demo"' in login.text
    intro = client.get("/demo")
    assert intro.status_code == 200 and 'action="/demo/start"' in intro.text
    home = client.post("/demo/start", data={"csrf_token": _csrf(intro.text)})
    assert home.status_code == 200 and str(home.url).endswith("/demo/home")
    assert "data-demo-banner" in home.text and "演示" in home.text
    return _csrf(home.text)


def new_visitor(bank: Bank) -> TestClient:
    return TestClient(bank.client.app, raise_server_exceptions=False)


def test_the_demo_pages_show_sample_data_under_the_banner(bank: Bank) -> None:
    client = new_visitor(bank)
    start_demo(client)
    for path in ("/demo/home", "/demo/accounts", "/demo/history", "/demo/transfer"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "data-demo-banner" in page.text and 'action="/demo/exit"' in page.text
        # No real customer's name or account anywhere in the demo.
        for person in (bank.a, bank.b, bank.c):
            assert person.account.account_number not in page.text
    history = client.get("/demo/history", params={"lang": "en"})
    assert "Salary" in history.text and "Demo" in history.text
    # The real pages stay closed: the demo is no login.
    assert client.get("/accounts", follow_redirects=False).headers["location"] == "/login"


def test_the_demo_transfer_reaches_confirm_and_moves_nothing(bank: Bank) -> None:
    before = bank.balances()
    client = new_visitor(bank)
    csrf = start_demo(client)
    typed = {
        "csrf_token": csrf,
        "from_account": "current",
        "to_account_number": "6222 0000 1111 2222",
        "payee_name": "赵六",
        "amount": "1,000.00".replace(",", ""),
        "remark": "房租",
    }
    confirm = client.post("/demo/transfer", data=typed)
    assert confirm.status_code == 200
    assert 'action="/demo/transfer/confirm"' in confirm.text
    assert "赵六" in confirm.text and "1,000.00" in confirm.text
    assert 'data-testid="demo-confirm-note"' in confirm.text
    # 返回修改 keeps what was typed.
    back = client.post("/demo/transfer", data={**typed, "action": "edit"})
    assert 'value="赵六"' in back.text and 'value="1000.00"' in back.text
    done = client.post("/demo/transfer/confirm", data={"csrf_token": csrf})
    assert done.status_code == 200 and 'data-testid="demo-done"' in done.text
    assert "不会转出资金" in done.text
    assert bank.balances() == before
    assert verify_all(bank.db).problems == []


def test_the_demo_transfer_form_names_the_wrong_field(bank: Bank) -> None:
    client = new_visitor(bank)
    csrf = start_demo(client)
    form = {"csrf_token": csrf, "from_account": "current", "payee_name": "赵六"}
    refused = client.post(
        "/demo/transfer", data={**form, "to_account_number": "12", "amount": "10"}
    )
    assert refused.status_code == 422
    assert 'href="#to_account_number"' in refused.text and 'aria-invalid="true"' in refused.text
    too_much = client.post(
        "/demo/transfer",
        data={**form, "to_account_number": "622200001111", "amount": "29000.00"},
    )
    assert too_much.status_code == 422 and 'href="#amount"' in too_much.text
    assert 'value="赵六"' in too_much.text  # the values are kept
    no_csrf = client.post("/demo/transfer", data={**form, "csrf_token": "forged"})
    assert no_csrf.status_code == 403


def test_a_write_attempt_is_refused_and_the_ledger_is_unchanged(bank: Bank) -> None:
    """The demo cookie on the real transfer routes (page and API) and the demo's own
    missing confirm: refused demo_read_only, balances equal, verify clean."""
    before = bank.balances()
    client = new_visitor(bank)
    csrf = start_demo(client)
    page = client.post(
        "/transfer",
        data={
            "csrf_token": csrf,
            "to_account_number": bank.b.account.account_number,
            "payee_name": "李娜",
            "amount": "10.00",
        },
    )
    assert page.status_code == 403 and "演示" in page.text
    api = client.post(
        "/api/v1/transfers",
        json={"to_account_number": bank.b.account.account_number, "amount": "10.00"},
        headers={"Idempotency-Key": "demo-1"},
    )
    assert_problem(api, "demo_read_only", 403)
    started = client.post("/api/v1/demo/sessions").json()
    bearer = {"Authorization": f"Bearer {started['token']}"}
    assert_problem(
        client.post("/api/v1/demo/transfers/confirm", headers=bearer, json={}),
        "demo_read_only",
        403,
    )
    assert_problem(client.post("/api/v1/transfers", headers=bearer, json={}), "demo_read_only")
    assert bank.balances() == before
    assert verify_all(bank.db).problems == []


def test_the_demo_api(bank: Bank) -> None:
    client = new_visitor(bank)
    started = client.post("/api/v1/demo/sessions")
    assert started.status_code == 201 and started.json()["demo"] is True
    bearer = {"Authorization": f"Bearer {started.json()['token']}"}
    accounts = client.get("/api/v1/demo/accounts", headers=bearer).json()["accounts"]
    assert [a["key"] for a in accounts] == ["current", "savings"]
    assert accounts[0]["balance"] == "28650.35"
    history = client.get("/api/v1/demo/history", headers=bearer, params={"lang": "en"})
    assert history.json()["items"][0]["description"] == "Supermarket"
    review = client.post(
        "/api/v1/demo/transfers",
        headers=bearer,
        json={"to_account_number": "622200001111", "payee_name": "赵六", "amount": "12.30"},
    )
    assert review.status_code == 200
    assert review.json()["moves_money"] is False and review.json()["amount"] == "12.30"
    assert_problem(
        client.post(
            "/api/v1/demo/transfers",
            headers=bearer,
            json={"to_account_number": "622200001111", "payee_name": "赵六", "amount": "1.234"},
        ),
        "amount_too_precise",
        422,
    )
    # The demo token is no login anywhere else; a real token is no demo.
    assert_problem(client.get("/api/v1/accounts", headers=bearer), "not_authenticated", 401)
    real = bank.headers["zhangwei"]
    assert_problem(client.get("/api/v1/demo/accounts", headers=real), "not_authenticated", 401)
    assert_problem(client.get("/api/v1/demo/accounts"), "not_authenticated", 401)


def test_the_demo_ends_on_the_clock(bank: Bank) -> None:
    client = new_visitor(bank)
    start_demo(client)
    token = client.cookies[DEMO_COOKIE]
    started = client.post("/api/v1/demo/sessions").json()
    bank.clock.advance(minutes=service.DEMO_MINUTES - 1)
    assert client.get("/demo/history").status_code == 200
    bank.clock.advance(minutes=1)
    ended = client.get("/demo/history", follow_redirects=False)
    assert ended.status_code == 303 and ended.headers["location"] == "/demo?ended=1"
    assert 'data-testid="demo-ended"' in client.get("/demo?ended=1").text
    bearer = {"Authorization": f"Bearer {started['token']}"}
    assert_problem(client.get("/api/v1/demo/accounts", headers=bearer), "demo_expired", 401)
    # An ended demo holds nothing back: its token is no longer a demo anywhere.
    assert service.resolve(token=token, settings=bank.settings, at=bank.clock.now()) is None


def test_a_forged_or_altered_token_is_no_demo(bank: Bank) -> None:
    token, _ = service.new_token(settings=bank.settings, at=bank.clock.now())
    body, _, mac = token.rpartition(".")
    prefix, demo_id, ends = body.split(".")
    later = f"{prefix}.{demo_id}.{int(ends) + 86400}"
    for forged in (f"{later}.{mac}", f"{body}.{'0' * 32}", "demo1.x", token + "x"):
        assert service.resolve(token=forged, settings=bank.settings, at=bank.clock.now()) is None
    assert service.resolve(token=token, settings=bank.settings, at=bank.clock.now())


def test_visitors_at_once_do_not_see_each_others_typing(bank: Bank) -> None:
    one, two = new_visitor(bank), new_visitor(bank)
    csrf_one, csrf_two = start_demo(one), start_demo(two)
    assert one.cookies[DEMO_COOKIE] != two.cookies[DEMO_COOKIE]
    one.post(
        "/demo/transfer",
        data={
            "csrf_token": csrf_one,
            "from_account": "current",
            "to_account_number": "622200009999",
            "payee_name": "访客甲",
            "amount": "88.00",
        },
    )
    for path in ("/demo/home", "/demo/transfer", "/demo/history"):
        assert "访客甲" not in two.get(path).text and "622200009999" not in two.get(path).text
    assert csrf_two


def test_demo_starts_are_limited_per_ip(bank: Bank) -> None:
    client = new_visitor(bank)
    for _ in range(service.STARTS_PER_IP):
        assert client.post("/api/v1/demo/sessions").status_code == 201
    refused = client.post("/api/v1/demo/sessions")
    assert_problem(refused, "rate_limited", 429)
    intro = client.get("/demo")
    page = client.post("/demo/start", data={"csrf_token": _csrf(intro.text)})
    assert page.status_code == 429
    bank.clock.advance(seconds=service.STARTS_WINDOW_SECONDS)
    assert client.post("/api/v1/demo/sessions").status_code == 201


def test_leaving_the_demo(bank: Bank) -> None:
    """The login page offers to leave a live demo first: until then a login is a write
    the demo refuses."""
    client = new_visitor(bank)
    csrf = start_demo(client)
    login = client.get("/login")
    assert 'data-testid="demo-live"' in login.text
    refused = client.post(
        "/login", data={"login": "zhangwei", "password": "x", "csrf_token": _csrf(login.text)}
    )
    assert refused.status_code == 403 and "退出演示" in refused.text
    left = client.post("/demo/exit", data={"csrf_token": csrf}, follow_redirects=False)
    assert left.status_code == 303 and left.headers["location"] == "/login"
    assert DEMO_COOKIE not in client.cookies
    assert client.get("/demo/home", follow_redirects=False).status_code == 303
    assert 'data-testid="demo-live"' not in client.get("/login").text


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_demo_in_care_mode_and_both_languages(bank: Bank, lang: str) -> None:
    client = new_visitor(bank)
    client.cookies.set("wy_care", "1")
    start_demo(client)
    page = client.get("/demo/home", params={"lang": lang})
    assert 'class="care"' in page.text
    assert ("演示" if lang == "zh" else "Demo") in page.text
