"""JSON: GET /api/v1/functions?q= — the function search (5.2.3-a)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from wangyin.experience import service
from wangyin.experience.catalogue import FUNCTIONS
from wangyin.web.context import lang

router = APIRouter()


@router.get("/functions")
def functions(request: Request, q: Annotated[str, Query(max_length=50)] = "") -> dict[str, Any]:
    chosen = lang(request)
    entries = [hit.entry for hit in service.search(query=q)] if q else list(FUNCTIONS)
    return {
        "query": q,
        "items": [
            {"key": e.key, "title": e.title(chosen), "url": e.url, "kind": e.kind} for e in entries
        ],
    }
