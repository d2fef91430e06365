"""Dev-only: the inbox of the dev message gateway, and this process's query counters for
bench/. Mounted only when WANGYIN_ENV=dev, and answering only clients on this machine.

The inbox holds every one-time code in clear, and the default host serves every
interface: a phone on the same Wi-Fi read the demo's codes (issue 11 #10). Every route
here answers a loopback peer only (127.0.0.0/8, ::1, ::ffff:127.x) and is a plain 404 for
anyone else, like a path that does not exist. The peer is the socket's, or the one a
trusted proxy names (`forwarded_allow_ips`): a header from anyone else changes nothing.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from wangyin.notify import service as notify
from wangyin.uow import run_read
from wangyin.web.context import State, client_ip
from wangyin.web.render import render


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and the IPv4-mapped ::ffff:127.x; a name or garbage is not."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def loopback_only(request: Request) -> None:
    if not is_loopback(client_ip(request)):
        raise HTTPException(status_code=404)


router = APIRouter(dependencies=[Depends(loopback_only)])


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
