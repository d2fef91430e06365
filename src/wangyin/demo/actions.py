"""The demo's one business action: start a demo session (counted per IP, in its own
transaction, so a refused start is no write at all)."""

from __future__ import annotations

from wangyin.demo import service
from wangyin.runtime import AppState
from wangyin.uow import run_write


def start(state: AppState, *, ip: str) -> tuple[str, service.DemoSession]:
    now = state.clock.now()
    run_write(state.db, lambda s: service.count_start(s, ip=ip, at=now, settings=state.settings))
    return service.new_token(settings=state.settings, at=now)
