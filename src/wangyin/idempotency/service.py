"""Idempotency-Key handling (4.1.5.2-a, ARCHITECTURE rule 4): the first answer is the answer.

Once a money-moving request has been *executed* — its body parsed, its business rules run —
its answer is stored under (caller, key) in the same transaction as the action: a success
with the action's rows, a business refusal with the refusal's own bookkeeping (the
transaction then commits, see `DomainError.keep`). A replay with the same body gets that
first answer again, marked `Idempotent-Replayed: true`; the same key with another body is
refused. Not stored: malformed requests (they never get here), and answers that say
nothing about the action (busy, unavailable, outcome unknown), so a retry runs it.

Two racing requests with one key: the loser's insert violates the unique key, its
transaction is retried, and it then replays the winner's answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from wangyin.db import defer_write, table_of
from wangyin.errors import DomainError
from wangyin.idempotency.models import IdempotencyRecord
from wangyin.ledger.service import request_digest

_KEY_RE = re.compile(r"^[A-Za-z0-9_\-]{8,128}$")
_RECORDS = table_of(IdempotencyRecord)
# Built once: the hot path reuses them with new parameters.
_LOOKUP = select(
    _RECORDS.c.request_digest, _RECORDS.c.response_status, _RECORDS.c.response_body
).where(_RECORDS.c.scope == bindparam("scope"), _RECORDS.c.key == bindparam("key"))
_INSERT = insert(_RECORDS)

# Answers that do not say what happened to the action: never the "first answer".
NOT_STORED = {
    "busy",
    "service_unavailable",
    "outcome_unknown",
    "idempotency_key_reused",
    "rate_limited",  # "not now": the same request may run once the window has passed
    "alias_at_network",  # "ask the network first": the same request comes again at once
}


def valid_key(key: str | None) -> bool:
    return bool(key) and _KEY_RE.match(key or "") is not None


def check_key(key: str | None) -> str:
    if not key:
        raise DomainError("idempotency_key_required")
    if not _KEY_RE.match(key):
        raise DomainError("invalid_idempotency_key")
    return key


@dataclass(frozen=True)
class StoredAnswer:
    digest: str
    status: int
    body: str


class _Missing:
    pass


UNKNOWN = _Missing()  # "not looked up yet", as opposed to None: "looked up, none stored"


def lookup(session: Session, *, scope: str, key: str) -> StoredAnswer | None:
    row = session.execute(_LOOKUP, {"scope": scope, "key": key}).first()
    return None if row is None else StoredAnswer(row[0], row[1], row[2])


def once(
    session: Session,
    *,
    scope: str,
    key: str,
    request: dict[str, Any],
    at: datetime,
    action: Callable[[], tuple[int, dict[str, Any]]],
    stored: StoredAnswer | _Missing | None = UNKNOWN,
) -> tuple[int, dict[str, Any], bool]:
    """Run `action` once per (scope, key). Returns (status, body, replayed); a refusal,
    first or replayed, is raised as the DomainError it was. `stored` is the record when the
    caller already read it (the session look-up reads it in the same statement)."""
    digest = request_digest(request)
    if isinstance(stored, _Missing):
        stored = lookup(session, scope=scope, key=key)
    if stored is not None:
        return _replay(stored, digest)
    try:
        status, body = action()
    except DomainError as refusal:
        if refusal.code in NOT_STORED:
            raise
        # A twin request with this key may have committed while we waited for a row lock
        # (PostgreSQL, READ COMMITTED): then the customer gets its answer, not our refusal.
        twin = lookup(session, scope=scope, key=key)
        if twin is not None:
            return _replay(twin, digest)
        _store(
            session,
            scope=scope,
            key=key,
            digest=digest,
            status=refusal.status,
            body={"refusal": refusal.code, "params": _json_safe(refusal.params)},
            at=at,
        )
        refusal.keep = True  # commit the stored refusal (and its counting) with it
        raise
    _store(session, scope=scope, key=key, digest=digest, status=status, body=body, at=at)
    return status, body, False


def _store(
    session: Session,
    *,
    scope: str,
    key: str,
    digest: str,
    status: int,
    body: dict[str, Any],
    at: datetime,
) -> None:
    defer_write(  # the answer joins the transaction's trailing writes
        session,
        _INSERT,
        {
            "scope": scope,
            "key": key,
            "request_digest": digest,
            "response_status": status,
            "response_body": json.dumps(body, ensure_ascii=False),
            "created_at": at,
        },
    )


def _replay(stored: StoredAnswer, digest: str) -> tuple[int, dict[str, Any], bool]:
    if stored.digest != digest:
        raise DomainError("idempotency_key_reused")
    body = json.loads(stored.body)
    if isinstance(body, dict) and "refusal" in body and stored.status >= 400:
        error = DomainError(body["refusal"], **body.get("params", {}))
        error.replayed = True
        raise error
    return stored.status, body, True


def _json_safe(params: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, str | int | float | bool) or v is None else str(v)
        for k, v in params.items()
    }
