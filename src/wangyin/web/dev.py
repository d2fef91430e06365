"""Dev-only: the inbox of the dev message gateway, and this process's query counters for
bench/. Mounted only when WANGYIN_ENV=dev."""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from wangyin.notify import service as notify
from wangyin.uow import run_read
from wangyin.web.context import State
from wangyin.web.render import render

router = APIRouter()


class DevMessage(BaseModel):
    id: str
    channel: str
    purpose: str
    status: str
    text: str
    created_at: str


def _messages(state: State, phone: str) -> list[DevMessage]:
    def read(s):  # type: ignore[no-untyped-def]
        return [
            DevMessage(
                id=m.public_id,
                channel=m.channel,
                purpose=m.purpose,
                status=m.status,
                text=notify.body_of(m),
                created_at=m.created_at.isoformat(),
            )
            for m in notify.messages_to(s, phone=phone)
        ]

    return run_read(state.db, read)


@router.get("/api/v1/dev/messages", response_model=list[DevMessage], tags=["dev"])
def dev_messages(
    state: State, phone: Annotated[str, Query(min_length=11, max_length=20)]
) -> list[DevMessage]:
    """The SMS and voice messages sent to a phone (dev gateway only), newest first."""
    return _messages(state, phone)


@router.get("/dev/inbox", include_in_schema=False)
def dev_inbox(request: Request, state: State, phone: str = "") -> Response:
    messages = _messages(state, phone) if phone else []
    return render(request, "dev_inbox.html", {"phone": phone, "messages": messages})


class QueryStatsOut(BaseModel):
    pid: int
    statements: int
    round_trips: int


@router.get("/dev/query-stats", response_model=QueryStatsOut, include_in_schema=False)
def dev_query_stats(request: Request) -> QueryStatsOut:
    """Statements and round trips this worker process has sent to its database since it
    started (`Database.stats`). Each worker answers for itself: bench/transfers.py polls
    until it has heard from every one. Touches no database, so polling costs no query."""
    stats = request.app.state.wangyin.db.stats
    return QueryStatsOut(
        pid=os.getpid(), statements=stats.statements, round_trips=stats.round_trips
    )
