"""Liveness and readiness for load balancers and rolling restarts.

`/healthz` is the process only: it never touches the database, so a database outage
does not get healthy app processes killed. `/readyz` says whether this process can serve
customers: the database answers and is writable (not a standby, not read-only), its
schema is at this code's migration head, the keyring is loaded, and the process is not
draining for a restart (wangyin/ops/nodes.py). Anything else is `503 service_unavailable`
(problem+json, with `Retry-After` and a machine `reason`).
"""

from __future__ import annotations

from functools import cache

from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from wangyin import __version__
from wangyin.app import problem  # app.py imports this router inside create_app
from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.migrate import MIGRATIONS_DIR
from wangyin.ops import nodes
from wangyin.security.keys import KeyringError, load_keyring
from wangyin.web.availability import RETRY_AFTER_SECONDS, availability_of, is_unavailable
from wangyin.web.context import State

router = APIRouter(tags=["health"])

# Bounds the probe on a database that accepts connections but does not answer.
PROBE_TIMEOUT_MS = 2000
VERSION_TABLE = "alembic_version"  # alembic's default, which migrations/env.py keeps


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@cache
def migration_revisions() -> tuple[frozenset[str], frozenset[str]]:
    """This code's head revisions and every revision it knows (read once per process)."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    heads = frozenset(script.get_heads())
    known = frozenset(rev.revision for rev in script.walk_revisions())
    return heads, known


def _schema_problem(connection: Connection) -> str | None:
    # Read alembic's version table directly: MigrationContext would log two INFO lines on
    # every probe.
    if not inspect(connection).has_table(VERSION_TABLE):
        return "migrations_not_at_head"
    current = set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
    heads, known = migration_revisions()
    if current == heads:
        return None
    if current and not current <= known:
        return None  # migrated by a newer release during a rolling upgrade: still served
    return "migrations_not_at_head"


def _database_problem(db: Database) -> str | None:
    """Why the database cannot take this process's writes, or None. Writes nothing."""
    session = db.read_sessions()
    try:
        connection = session.connection()
        if db.is_sqlite:
            if connection.exec_driver_sql("PRAGMA query_only").scalar():
                return "database_read_only"
        else:
            in_recovery, read_only = connection.execute(
                text(
                    "SELECT set_config('statement_timeout', :timeout, true), "
                    "pg_is_in_recovery(), current_setting('transaction_read_only')"
                ),
                {"timeout": str(PROBE_TIMEOUT_MS)},
            ).one()[1:]
            if in_recovery:
                return "database_in_recovery"  # a standby: it cannot take writes
            if read_only != "off":
                return "database_read_only"
        return _schema_problem(connection)
    finally:
        session.close()


@router.get("/readyz", response_model=None)
def readyz(request: Request, state: State) -> Response:
    try:
        load_keyring(env=state.settings.env)
        # Told to stop: the load balancer takes this node out while it still serves.
        reason = "draining" if nodes.draining() else _database_problem(state.db)
    except KeyringError:
        reason = "keyring_not_loaded"
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        availability_of(request.app).refused(exc)
        reason = "database_unavailable"
    if reason is not None:
        error = DomainError("service_unavailable", retry_after=RETRY_AFTER_SECONDS)
        return problem(request, error, reason=reason)
    return JSONResponse({"status": "ready"})
