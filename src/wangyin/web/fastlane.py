"""The routes every transfer takes — prepare and confirm, within the bank and to other
banks — dispatched without FastAPI's router.

FastAPI 0.16x routes a request through its included routers' lazy matching, telemetry and
exit-stack middlewares and a dependency solver; for these lean routes (they take only
the request and their path parameters, `web/jsonbody.py`) that machinery was ~10 % of the
server's CPU per transfer (bench/request_cost.py). This middleware, innermost, matches just
these routes (Starlette's own matcher, on the routes FastAPI registered) and awaits their
endpoint functions itself; every other request goes on to FastAPI untouched.

Nothing else differs: the routes stay registered with FastAPI (the OpenAPI document, and
the same endpoint functions), the outer middlewares (request id, metrics, security headers,
the demo wall and per-IP limits) run as for any request, the matched route names the
request in metrics and logs, and an exception goes to the app's own exception handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

# The app's exception handlers, by the exception's class (app.py `render_exception`).
Renderer = Callable[[Request, Exception], Awaitable[Response]]


class FastLane:
    def __init__(
        self, app: ASGIApp, *, endpoints: Sequence[Callable[..., Any]], render: Renderer
    ) -> None:
        self.app = app
        self.endpoints = tuple(endpoints)
        self.render = render
        self.routes: list[Any] | None = None  # found on the first request (all are added)
        self.prefix = ""

    def _find(self, app: Any) -> list[Any]:
        routes = [
            route
            for route in iter_route_contexts(app.routes)
            if getattr(route.original_route, "endpoint", None) in self.endpoints
        ]
        if len(routes) != len(self.endpoints):
            raise RuntimeError("a fast-lane endpoint is not a route of the app")
        paths = [str(route.path) for route in routes]
        prefix = paths[0]
        for path in paths[1:]:
            while not path.startswith(prefix):
                prefix = prefix[:-1]
        self.prefix = prefix.split("{", 1)[0]
        return routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        routes = self.routes
        if routes is None:
            routes = self.routes = self._find(scope["app"])
        if not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        for route in routes:
            match, child = route.matches(scope)
            if match == Match.FULL:
                break
        else:
            await self.app(scope, receive, send)
            return
        scope.update(child)
        scope["route"] = route  # its `path` is the template, prefix included (route_of)
        request = Request(scope, receive)
        try:
            response = await child["endpoint"](request=request, **child["path_params"])
        except Exception as exc:  # the app's handlers decide; an unknown one is its 500
            response = await self.render(request, exc)
        await response(scope, receive, send)
