"""The money path's two lean routes (`web/jsonbody.py`: prepare and confirm read their own
body and Idempotency-Key instead of FastAPI's per-request dependency solving) answer and
document exactly as FastAPI routes would."""

from __future__ import annotations

import json

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
    ):
        operation = paths[path]["post"]
        body = operation["requestBody"]
        assert body["required"] is required
        schema = body["content"]["application/json"]["schema"]
        assert "amount" in schema["properties"] or "key_digest" in schema["properties"]
        assert schema["additionalProperties"] is False
        names = {p["name"] for p in operation["parameters"]}
        assert "Idempotency-Key" in names
