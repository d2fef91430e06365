"""Liveness and readiness for load balancers and rolling restarts."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from wangyin import __version__
from wangyin.uow import run_read
from wangyin.web.context import State

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get("/readyz")
def readyz(state: State) -> dict[str, str]:
    run_read(state.db, lambda s: s.execute(text("SELECT 1")).scalar_one())
    return {"status": "ready"}
