"""The JSON API's contract: idempotency, refusals as problem+json, authorization, headers."""

from __future__ import annotations

from typing import Any

import pytest

from functional.conftest import Bank, assert_problem


def transfer_body(bank: Bank, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "from_account_id": bank.a.account.public_id,
        "to_account_number": bank.b.account.account_number,
        "payee_name": "李娜",
        "amount": "100.00",
        "currency": "CNY",
        "remark": "测试",
    }
    body.update(changes)
    return body


def post_transfer(bank: Bank, key: str | None, who: str = "zhangwei", **kwargs: Any):  # type: ignore[no-untyped-def]
    headers = dict(bank.headers[who])
    if key is not None:
        headers["Idempotency-Key"] = key
    return bank.client.post("/api/v1/transfers", headers=headers, **kwargs)


def confirm(bank: Bank, tid: str, key: str | None, who: str = "zhangwei", **kwargs: Any):  # type: ignore[no-untyped-def]
    """Confirm as the customer does: with the transaction password and the texted code
    (unless the test sends a body of its own)."""
    headers = dict(bank.headers[who])
    if key is not None:
        headers["Idempotency-Key"] = key
    if "json" not in kwargs and "content" not in kwargs:
        kwargs["json"] = bank.factors(tid, who)
    elif isinstance(kwargs.get("json"), dict) and "x" not in kwargs["json"]:
        kwargs["json"] = {**bank.factors(tid, who), **kwargs["json"]}
    return bank.client.post(f"/api/v1/transfers/{tid}/confirm", headers=headers, **kwargs)


def test_idempotency_key_is_required_and_checked(bank: Bank) -> None:
    before = bank.balances()
    assert_problem(
        post_transfer(bank, None, json=transfer_body(bank)), "idempotency_key_required", 428
    )
    assert_problem(
        post_transfer(bank, "short", json=transfer_body(bank)), "invalid_idempotency_key", 422
    )
    assert_problem(
        post_transfer(bank, "bad key!!", json=transfer_body(bank)), "invalid_idempotency_key"
    )
    tid = post_transfer(bank, "key-required-1", json=transfer_body(bank)).json()["id"]
    assert_problem(confirm(bank, tid, None), "idempotency_key_required", 428)
    assert bank.balances() == before


def test_replay_returns_the_first_response(bank: Bank) -> None:
    first = post_transfer(bank, "replay-prepare", json=transfer_body(bank))
    again = post_transfer(bank, "replay-prepare", json=transfer_body(bank))
    assert first.status_code == again.status_code == 201
    assert first.headers["Idempotent-Replayed"] == "false"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    tid = first.json()["id"]

    done = confirm(bank, tid, "replay-confirm")
    assert done.status_code == 200
    balances = bank.balances()
    # Past the confirmation window (the customer stays active, within the idle timeout):
    # a replay still answers.
    for _ in range(3):
        bank.clock.advance(seconds=200)
        assert bank.client.get("/api/v1/me", headers=bank.headers["zhangwei"]).status_code == 200
    replay = confirm(bank, tid, "replay-confirm")
    assert (replay.status_code, replay.json()) == (200, done.json())
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert bank.balances() == balances
    assert balances[bank.a.account.account_number] == "9900.00"


def test_same_key_with_a_different_body_is_refused(bank: Bank) -> None:
    assert post_transfer(bank, "reused-key-1", json=transfer_body(bank)).status_code == 201
    before = bank.balances()
    response = post_transfer(bank, "reused-key-1", json=transfer_body(bank, amount="100.01"))
    assert_problem(response, "idempotency_key_reused", 422)
    assert bank.balances() == before


def test_keys_belong_to_one_user(bank: Bank) -> None:
    """Another customer using the same key string is not a replay of A's request."""
    a = post_transfer(bank, "shared-key-01", json=transfer_body(bank))
    b = post_transfer(
        bank,
        "shared-key-01",
        who="lina",
        json=transfer_body(
            bank,
            from_account_id=bank.b.account.public_id,
            to_account_number=bank.a.account.account_number,
            payee_name="张伟",
        ),
    )
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    assert b.headers["Idempotent-Replayed"] == "false"


MATRIX = [
    (
        "malformed json",
        {"content": b'{"amount": ', "headers": {"content-type": "application/json"}},
        "malformed_json",
    ),
    ("not an object", {"json": ["a"]}, "validation_error"),
    ("missing fields", {"json": {"amount": "1"}}, "validation_error"),
    ("extra field", {"json": "EXTRA"}, "validation_error"),
    ("zero", {"json": {"amount": "0"}}, "amount_not_positive"),
    ("negative", {"json": {"amount": "-100"}}, "amount_not_positive"),
    ("too precise", {"json": {"amount": "0.001"}}, "amount_too_precise"),
    ("1e30", {"json": {"amount": "1e30"}}, "invalid_amount"),  # plain decimals only
    ("huge integer", {"json": {"amount": "9" * 39}}, "amount_too_large"),
    ("number not string", {"json": {"amount": 100}}, "validation_error"),
    ("nan", {"json": {"amount": "NaN"}}, "invalid_amount"),
    ("unknown currency", {"json": {"currency": "XYZ"}}, "unknown_currency"),
    ("same account", {"json": "SAME"}, "same_account"),
    ("payee name", {"json": {"payee_name": "李四"}}, "payee_name_mismatch"),
    ("insufficient", {"json": {"amount": "10000.01"}}, "insufficient_funds"),
    ("other customer's account", {"json": "OTHER"}, "account_not_found"),
    ("remark too long", {"json": {"remark": "长" * 51}}, "validation_error"),
]


@pytest.mark.parametrize(("case", "request_kwargs", "code"), MATRIX, ids=[m[0] for m in MATRIX])
def test_bad_input_is_refused_with_a_stable_code(
    bank: Bank, case: str, request_kwargs: dict[str, Any], code: str
) -> None:
    before = bank.balances()
    kwargs = dict(request_kwargs)
    if kwargs.get("json") == "EXTRA":
        kwargs["json"] = transfer_body(bank, admin=True)
    elif kwargs.get("json") == "SAME":
        kwargs["json"] = transfer_body(
            bank, to_account_number=bank.a.account.account_number, payee_name="张伟"
        )
    elif kwargs.get("json") == "OTHER":
        kwargs["json"] = transfer_body(bank, from_account_id=bank.b.account.public_id)
    elif (
        isinstance(kwargs.get("json"), dict)
        and "from_account_id" not in kwargs["json"]
        and case != "missing fields"
    ):
        kwargs["json"] = transfer_body(bank, **kwargs["json"])
    headers = {
        **bank.headers["zhangwei"],
        "Idempotency-Key": "matrix-key-01",
        **kwargs.pop("headers", {}),
    }
    response = bank.client.post("/api/v1/transfers", headers=headers, **kwargs)
    body = assert_problem(response, code)
    if code == "account_not_found":
        assert response.status_code == 404
    assert body["title"] and body["detail"]
    assert bank.balances() == before
    listed = bank.client.get("/api/v1/transfers", headers=bank.headers["zhangwei"]).json()
    assert listed == []  # nothing was even prepared


def test_confirm_refusals(bank: Bank) -> None:
    tid = post_transfer(bank, "confirm-prep-1", json=transfer_body(bank)).json()["id"]
    assert_problem(
        confirm(bank, tid, "confirm-wrong-digest", json={"key_digest": "f" * 64}),
        "transfer_data_changed",
        422,
    )
    assert_problem(confirm(bank, tid, "confirm-by-lina", who="lina"), "transfer_not_found", 404)
    assert_problem(confirm(bank, "no-such-transfer", "confirm-unknown"), "transfer_not_found", 404)
    assert_problem(confirm(bank, tid, "confirm-extra", json={"x": 1}), "validation_error", 422)
    assert confirm(bank, tid, "confirm-ok-1").status_code == 200
    after = bank.balances()
    assert_problem(confirm(bank, tid, "confirm-again-1"), "transfer_already_confirmed", 409)

    late = post_transfer(bank, "confirm-prep-2", json=transfer_body(bank)).json()["id"]
    # The customer stays active (within the idle timeout) while the window runs out.
    bank.clock.advance(seconds=bank.settings.transfer_confirm_seconds - 60)
    assert bank.client.get("/api/v1/me", headers=bank.headers["zhangwei"]).status_code == 200
    bank.clock.advance(seconds=61)
    assert_problem(confirm(bank, late, "confirm-late-1"), "transfer_expired", 422)
    shown = bank.client.get(f"/api/v1/transfers/{late}", headers=bank.headers["zhangwei"]).json()
    assert shown["status"] == "EXPIRED"
    assert bank.balances() == after


def test_public_edition_cannot_transfer(bank: Bank) -> None:
    before = bank.balances()
    body = transfer_body(bank, from_account_id=bank.c.account.public_id, amount="1")
    assert_problem(
        post_transfer(bank, "public-key-01", who="wangfang", json=body), "public_edition", 403
    )
    assert bank.balances() == before


def test_language_of_problem_titles(bank: Bank) -> None:
    body = transfer_body(bank, amount="10000.01")
    headers = {**bank.headers["zhangwei"], "Idempotency-Key": "lang-key-001"}
    en = bank.client.post(
        "/api/v1/transfers", json=body, headers={**headers, "Accept-Language": "en-US,en;q=0.9"}
    )
    zh = bank.client.post("/api/v1/transfers", json=body, headers=headers)
    assert_problem(en, "insufficient_funds")
    assert_problem(zh, "insufficient_funds")
    assert en.json()["title"] == "The available balance is not enough for this transfer."
    assert en.headers["content-language"] == "en"
    assert zh.headers["content-language"] == "zh-CN"
    assert zh.json()["title"] != en.json()["title"], "no Chinese title for insufficient_funds"


ENDPOINTS = [
    ("GET", "/api/v1/accounts/{account}"),
    ("GET", "/api/v1/accounts/{account}/transactions"),
    ("GET", "/api/v1/accounts/{account}/transactions.csv"),
    ("GET", "/api/v1/transfers/{transfer}"),
    ("POST", "/api/v1/transfers/{transfer}/confirm"),
]


def test_another_customers_ids_look_like_nothing(bank: Bank) -> None:
    tid = post_transfer(bank, "authz-prep-01", json=transfer_body(bank)).json()["id"]
    before = bank.balances()
    for method, template in ENDPOINTS:
        url = template.format(account=bank.a.account.public_id, transfer=tid)
        headers = {**bank.headers["lina"], "Idempotency-Key": "authz-key-01"}
        response = bank.client.request(method, url, headers=headers)
        assert response.status_code == 404, (url, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        text = response.text
        assert bank.a.account.account_number not in text and "张伟" not in text
    assert_problem(
        post_transfer(
            bank,
            "authz-key-02",
            who="lina",
            json=transfer_body(bank, to_account_number=bank.b.account.account_number),
        ),
        "account_not_found",
        404,
    )
    overview = bank.client.get("/api/v1/accounts", headers=bank.headers["lina"]).json()
    assert [a["id"] for a in overview["accounts"]] == [bank.b.account.public_id]
    assert bank.client.get("/api/v1/transfers", headers=bank.headers["lina"]).json() == []
    assert bank.balances() == before


def test_requests_without_a_valid_session_are_refused(bank: Bank) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = bank.client.get("/api/v1/accounts", headers=headers)
        assert_problem(response, "not_authenticated", 401)
        assert response.headers["www-authenticate"] == "Bearer"


def test_logout_ends_the_session(bank: Bank) -> None:
    headers = bank.login("lina")
    assert bank.client.get("/api/v1/me", headers=headers).status_code == 200
    assert bank.client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert_problem(bank.client.get("/api/v1/me", headers=headers), "not_authenticated", 401)
    assert bank.client.get("/api/v1/me", headers=bank.headers["lina"]).status_code == 200


def test_idle_session_times_out_over_http(bank: Bank) -> None:
    headers = bank.login("lina")
    bank.clock.advance(minutes=bank.settings.session_idle_minutes + 1)
    assert_problem(bank.client.get("/api/v1/me", headers=headers), "not_authenticated", 401)


def test_login_refusal(bank: Bank) -> None:
    wrong = bank.client.post("/api/v1/auth/login", json={"login": "lina", "password": "Nope-12345"})
    nobody = bank.client.post(
        "/api/v1/auth/login", json={"login": "ghost", "password": "Nope-12345"}
    )
    assert_problem(wrong, "invalid_credentials", 401)
    assert_problem(nobody, "invalid_credentials", 401)
    assert wrong.json()["title"] == nobody.json()["title"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/api/v1/accounts", "/api/v1/nowhere"])
def test_security_headers(bank: Bank, path: str) -> None:
    response = bank.client.get(path)
    csp = response.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in directives.get("script-src", directives["default-src"])
    assert "'unsafe-eval'" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


def test_health_and_readiness(bank: Bank) -> None:
    health = bank.client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    ready = bank.client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


def test_unknown_api_path_is_a_problem(bank: Bank) -> None:
    assert_problem(bank.client.get("/api/v1/nowhere"), "not_found", 404)
    assert_problem(bank.client.delete("/api/v1/accounts"), "method_not_allowed", 405)
