"""Read-only, enforced on the server for every route (`web.guards`, before routing):
an unsafe request (POST, PUT, PATCH, DELETE) that carries a live demo token, in the demo
cookie or as a bearer token, is refused `demo_read_only` unless it is one of the demo's
own steps (service.DEMO_WRITE_PATHS), none of which writes anything but its start's rate
count. A demo token never authenticates anywhere else either (it is no identity session),
so this is the second wall, not the only one."""

from __future__ import annotations

from fastapi import Request

from wangyin.demo import service
from wangyin.errors import DomainError
from wangyin.web.context import SAFE_METHODS, app_state, bearer_token

DEMO_COOKIE = "wy_demo"


def demo_token(request: Request) -> str:
    """The demo token the caller presents: a bearer token on the API, else the cookie."""
    bearer = bearer_token(request) or ""
    if service.looks_like_demo(bearer):
        return bearer
    return request.cookies.get(DEMO_COOKIE, "")


def live_demo(request: Request) -> service.DemoSession | None:
    token = demo_token(request)
    if not token:
        return None
    state = app_state(request)
    return service.resolve(token=token, settings=state.settings, at=state.clock.now())


def refuse_demo_writes(request: Request) -> None:
    # scope["path"]: request.url would build and parse a whole URL on every request.
    if request.method in SAFE_METHODS or request.scope["path"] in service.DEMO_WRITE_PATHS:
        return
    if live_demo(request) is not None:
        raise DomainError("demo_read_only")
