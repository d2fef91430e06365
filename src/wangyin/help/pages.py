"""The FAQ page /help (5.2.1-d): searchable on the server (GET ?q=), grouped by topic,
no script. Open before login: a visitor who cannot log in needs it most."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from wangyin.help import service
from wangyin.help.contextual import form_help
from wangyin.help.faq import TOPICS
from wangyin.web.render import environment, render

router = APIRouter()


@router.get("/help")
def help_page(request: Request, q: Annotated[str, Query(max_length=50)] = "") -> Response:
    found = service.search(query=q)
    return render(
        request,
        "help/faq.html",
        {
            "query": q,
            "found": found,
            "groups": service.by_topic(found),
            "topics": TOPICS,
        },
    )


def install() -> None:
    """Lets the form templates ask for their contextual help (templates/help/_form_help.html)."""
    environment().globals["form_help_text"] = form_help
