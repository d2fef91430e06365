"""The money path's two lean routes (`web/jsonbody.py`: prepare and confirm read their own
body and Idempotency-Key instead of FastAPI's per-request dependency solving) answer and
document exactly as FastAPI routes would."""

from __future__ import annotations

import json

import pytest

from functional.conftest import Bank, assert_problem
from functional.test_api import confirm, post_transfer, transfer_body


def test_a_body_that_is_not_json_is_refused_and_nothing_is_prepared(bank: Bank) -> None:
    before = bank.balances()
    sent = bank.client.post(
        "/api/v1/transfers",
        headers={
            **bank.headers["zhangwei"],
            "Idempotency-Key": "lean-text-01",
            "content-type": "text/plain",
        },
        content=b"amount=1.00",
    )
    assert_problem(sent, "validation_error", 422)
    empty = bank.client.post(
        "/api/v1/transfers",
        headers={**bank.headers["zhangwei"], "Idempotency-Key": "lean-empty-01"},
    )
    assert_problem(empty, "validation_error", 422)
    assert bank.balances() == before


def test_field_errors_name_the_field_without_the_body_prefix(bank: Bank) -> None:
    sent = post_transfer(bank, "lean-field-01", json=transfer_body(bank, currency="CNYX"))
    assert_problem(sent, "validation_error", 422)
    assert {"field": "currency", "type": "string_too_long"} in sent.json()["errors"]


def test_a_json_media_type_with_parameters_or_a_suffix_is_json(bank: Bank) -> None:
    for media in ("application/json; charset=utf-8", "application/merge-patch+json"):
        sent = bank.client.post(
            "/api/v1/transfers",
            headers={
                **bank.headers["zhangwei"],
                "Idempotency-Key": f"lean-{len(media)}-key",
                "content-type": media,
            },
            content=json.dumps(transfer_body(bank)).encode(),
        )
        assert sent.status_code == 201, sent.text
    tid = sent.json()["id"]
    done = confirm(bank, tid, "lean-confirm-01")
    assert done.status_code == 200 and done.json()["status"] == "COMPLETED"


def test_the_openapi_document_still_shows_the_body_and_the_key(bank: Bank) -> None:
    paths = bank.client.get("/openapi.json").json()["paths"]
    for path, required in (
        ("/api/v1/transfers", True),
        ("/api/v1/transfers/{transfer_id}/confirm", False),
        ("/api/v1/interbank-transfers", True),
        ("/api/v1/interbank-transfers/{transfer_id}/confirm", False),
    ):
        operation = paths[path]["post"]
        body = operation["requestBody"]
        assert body["required"] is required
        schema = body["content"]["application/json"]["schema"]
        assert "amount" in schema["properties"] or "key_digest" in schema["properties"], path
        assert schema["additionalProperties"] is False
        names = {p["name"] for p in operation["parameters"]}
        assert "Idempotency-Key" in names


def _scopes_seen(bank: Bank) -> list[dict[str, object]]:
    """Every request's scope as the outermost layer sees it after the app answered."""
    seen: list[dict[str, object]] = []
    inner = bank.client.app.middleware_stack  # type: ignore[attr-defined]
    if inner is None:
        bank.client.get("/healthz")  # Starlette builds the stack on the first request
        inner = bank.client.app.middleware_stack  # type: ignore[attr-defined]

    async def probe(scope, receive, send):  # type: ignore[no-untyped-def]
        await inner(scope, receive, send)
        seen.append(dict(scope))

    bank.client.app.middleware_stack = probe  # type: ignore[attr-defined]
    return seen


def test_prepare_and_confirm_take_the_fast_lane_and_other_routes_do_not(bank: Bank) -> None:
    seen = _scopes_seen(bank)
    prepared = post_transfer(bank, "lane-prepare-1", json=transfer_body(bank))
    done = confirm(bank, prepared.json()["id"], "lane-confirm-1")
    assert done.status_code == 200, done.text
    bank.client.get(f"/api/v1/transfers/{prepared.json()['id']}", headers=bank.headers["zhangwei"])
    fast = [s for s in seen if "fastapi_middleware_astack" not in s]
    routed = [s for s in seen if "fastapi_middleware_astack" in s]
    assert [s["path"] for s in fast] == [
        "/api/v1/transfers",
        f"/api/v1/transfers/{prepared.json()['id']}/confirm",
    ]
    # The code request and the read went through FastAPI's router, as ever.
    assert {(s["method"], str(s["path"]).rsplit("/", 1)[-1]) for s in routed} == {
        ("POST", "code"),
        ("GET", prepared.json()["id"]),
    }
    # Transfers to other banks take it too (here refused: a body that is not an object).
    interbank = bank.client.post(
        "/api/v1/interbank-transfers",
        headers={**bank.headers["zhangwei"], "Idempotency-Key": "lane-interbank-1"},
        json=["not", "an", "object"],
    )
    assert_problem(interbank, "validation_error", 422)
    assert "fastapi_middleware_astack" not in seen[-1]


def test_a_failure_in_the_fast_lane_is_the_apps_own_answer(
    bank: Bank, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wangyin.payments import actions

    def broken(**_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(actions, "prepare_transfer", broken)
    client = bank.client
    client.__dict__["_transport"].raise_server_exceptions = False  # a 500, as a client sees it
    failed = post_transfer(bank, "lane-broken-1", json=transfer_body(bank))
    assert failed.status_code == 500
    assert failed.headers["content-type"] == "application/problem+json"
    assert failed.json()["code"] == "internal_error"
    assert failed.headers["x-request-id"] == failed.json()["request_id"]
    assert "boom" not in failed.text


def test_a_fast_lane_endpoint_must_be_a_route_of_the_app() -> None:
    from wangyin.web.fastlane import FastLane

    async def not_a_route() -> None:
        return None

    lane = FastLane(lambda *_: None, endpoints=[not_a_route], render=None)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="not a route"):
        lane._find(type("App", (), {"routes": []})())
