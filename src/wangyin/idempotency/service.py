"""Idempotency-Key handling (4.1.5.2-a).

The record is written in the same transaction as the action it guards: either both
commit or neither does. A replay with the same body returns the first response; the same
key with a different body is refused. Two racing requests with one key: the loser's
insert violates the unique key, its transaction is retried, and it then replays.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wangyin.errors import DomainError
from wangyin.idempotency.models import IdempotencyRecord
from wangyin.ledger.service import request_digest

_KEY_RE = re.compile(r"^[A-Za-z0-9_\-]{8,128}$")


def check_key(key: str | None) -> str:
    if not key:
        raise DomainError("idempotency_key_required")
    if not _KEY_RE.match(key):
        raise DomainError("invalid_idempotency_key")
    return key


def once(
    session: Session,
    *,
    scope: str,
    key: str,
    request: dict[str, Any],
    at: datetime,
    action: Callable[[], tuple[int, dict[str, Any]]],
) -> tuple[int, dict[str, Any], bool]:
    """Run `action` once per (scope, key). Returns (status, body, replayed)."""
    digest = request_digest(request)
    replay = _replay(session, scope=scope, key=key, digest=digest)
    if replay is not None:
        return replay
    try:
        status, body = action()
    except DomainError:
        # A twin request with this key may have committed while we waited for a row lock
        # (PostgreSQL, READ COMMITTED): then the customer gets its answer, not our refusal.
        replay = _replay(session, scope=scope, key=key, digest=digest)
        if replay is not None:
            return replay
        raise
    session.add(
        IdempotencyRecord(
            scope=scope,
            key=key,
            request_digest=digest,
            response_status=status,
            response_body=json.dumps(body, ensure_ascii=False),
            created_at=at,
        )
    )
    session.flush()
    return status, body, False


def _replay(
    session: Session, *, scope: str, key: str, digest: str
) -> tuple[int, dict[str, Any], bool] | None:
    existing = session.scalars(
        select(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
        )
    ).first()
    if existing is None:
        return None
    if existing.request_digest != digest:
        raise DomainError("idempotency_key_reused")
    return existing.response_status, json.loads(existing.response_body), True
