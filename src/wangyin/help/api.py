"""JSON: GET /api/v1/help/faq?q= — the FAQ, searched like the function search (5.2.1-d)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from wangyin.help import service
from wangyin.help.faq import TOPICS
from wangyin.web.context import lang

router = APIRouter()


@router.get("/help/faq")
def faq(request: Request, q: Annotated[str, Query(max_length=50)] = "") -> dict[str, Any]:
    chosen = lang(request)
    return {
        "query": q,
        "topics": [{"key": t.key, "title": t.title(chosen)} for t in TOPICS],
        "items": [
            {
                "key": question.key,
                "topic": question.topic,
                "question": question.title(chosen),
                "answer": question.answer(chosen),
                "url": f"/help#{question.key}",
            }
            for question in service.search(query=q)
        ],
    }
