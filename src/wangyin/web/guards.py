"""The checks every request passes before routing: the demo is read-only
(`demo.guard`), and the per-IP rate limits on login, registration, resets and code
requests (`web.ratelimit`).

A pure ASGI middleware, not app-wide FastAPI dependencies: FastAPI solves dependencies
per request, and these two cost ~0.5 ms of CPU per money transfer that way
(bench/request_cost.py) for what is, on almost every request, two look-ups. A refusal is
rendered by the app's own renderer (problem+json on the API, the plain-words page on the
site), so it reads exactly as before; a database outage while counting an attempt is the
app's 503, as anywhere else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi.routing import iter_route_contexts
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from wangyin.demo.guard import refuse_demo_writes
from wangyin.web.context import SAFE_METHODS
from wangyin.web.ratelimit import limit_by_ip

# The app's renderer of a refusal (DomainError) or a database outage; re-raises the rest.
Renderer = Callable[[Request, Exception], Awaitable[Response]]


class RequestGuards:
    def __init__(self, app: ASGIApp, *, render: Renderer) -> None:
        self.app = app
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Safe methods neither write (demo) nor count (every limited path is a POST).
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            request = Request(scope)
            try:
                refuse_demo_writes(request)
                await limit_by_ip(request)
            except Exception as exc:  # the renderer re-raises what it does not know
                _name_the_route(scope)
                response = await self.render(request, exc)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _name_the_route(scope: Scope) -> None:
    """A refusal before routing is still counted and logged under its route's template
    (4.2-f), as when these checks were route dependencies: match it here (refusals only)."""
    for route in iter_route_contexts(scope["app"].routes):
        match, child = route.matches(scope)
        if match == Match.FULL:
            scope.update(child)
            scope["route"] = route  # its `path` is the template, prefix included (route_of)
            return
