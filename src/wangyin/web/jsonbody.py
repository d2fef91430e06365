"""Lean JSON routes for the money path: the route takes only the `Request` (and its path
parameters) and reads its body and headers itself (`payments.api.answer_money_post`).

Why: FastAPI solves a route's dependencies per request (the body model, each header, the
app state), and on the routes every transfer takes — prepare and confirm, within the bank
and to other banks — that was ~15 % of the server's CPU per transfer
(bench/request_cost.py). The answers are the same:
a body that is not JSON is `malformed_json`, a body that does not fit its model is a
`RequestValidationError` (the app's one 422 renderer), and `documented()` puts the body
model and the headers in the OpenAPI document as FastAPI would have.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Unique per intended action; a replay returns the first result, "
    "a refusal included",
    "schema": {"type": "string", "title": "Idempotency-Key"},
}


def _is_json(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


async def json_body(request: Request, model: type[M], *, optional: bool = False) -> M | None:
    """The request's body as `model`; None for no body when `optional`."""
    raw = await request.body()
    if not raw:
        if optional:
            return None
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    if not _is_json(request.headers.get("content-type", "")):
        # As FastAPI: a body declared JSON but sent as something else does not validate.
        raise RequestValidationError(
            [{"type": "model_attributes_type", "loc": ("body",), "msg": "not JSON", "input": None}]
        )
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in errors]
        ) from None


def idempotency_key(request: Request) -> str | None:
    return request.headers.get("idempotency-key")


def documented(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """`openapi_extra` for a lean route: its JSON body and the Idempotency-Key header."""
    return {
        "parameters": [IDEMPOTENCY_KEY],
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        },
    }
