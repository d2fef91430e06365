"""Per-IP rate limits on login, registration and one-time-code requests, keyed by path and
checked before routing (`web.guards`): a refusal is a `rate_limited` DomainError, shown as a
problem+json 429 (API) or the plain-words error page (web)."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from wangyin.security.ratelimit import limit_ip, rule_for
from wangyin.uow import run_write
from wangyin.web.context import AppState, client_ip


async def limit_by_ip(request: Request) -> None:
    # scope["path"], the path the router matched: request.url would build and parse a whole
    # URL object on every request of the site just to ask this.
    rule = rule_for(request.scope["method"], request.scope["path"])
    if rule is None:
        return
    state: AppState = request.app.state.wangyin
    if not state.settings.ratelimit_enabled:
        return
    ip = client_ip(request)
    now = state.clock.now()
    await run_in_threadpool(
        run_write,
        state.db,
        lambda s: limit_ip(s, ip=ip, rule=rule, at=now, settings=state.settings),
    )
