"""Which database errors mean "the database is not there", as opposed to a bug, a
constraint or a conflict in one request. One classifier for the unit of work (retry before
COMMIT, `outcome_unknown` during it, `service_unavailable` after the retries) and for the
web layer's 503 handling and outage log (`web/availability.py`)."""

from __future__ import annotations

import psycopg
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# What a client is told to wait before trying again (seconds), on every 503.
RETRY_AFTER_SECONDS = 2

# Exception classes the app registers its database handler for. The handler still asks
# `is_connection_lost`: any other database error stays a logged 500.
DATABASE_EXCEPTIONS: tuple[type[Exception], ...] = (DBAPIError, PoolTimeoutError, psycopg.Error)

# PostgreSQL SQLSTATEs that mean "no database to talk to right now": class 08 (connection
# exception) by prefix, plus the server shutting down or starting up, too many clients,
# and a read-only transaction (we are talking to a standby after a failover).
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", "25006"})

# For drivers without SQLSTATEs on client-side failures (and as a safety net).
_CONNECTION_MESSAGES = (
    "server closed the connection",
    "connection is closed",
    "connection refused",
    "connection failed",
    "could not connect",
    "connection is lost",
    "connection timeout expired",
    "connection reset by peer",
    "no connection to the server",
    "terminating connection",
    "the database system is",
    "consuming input failed",
    "sending query failed",
    "could not receive data",
    "could not send data",
    "ssl connection has been closed",
)


# 25006 read_only_sql_transaction: a write reached a standby (or a demoted primary that
# kept its connections). Another connection of a multi-host URL with
# target_session_attrs=read-write finds the primary, so the pool drops every connection it
# holds (db.py), as it does for a lost one.
READ_ONLY_SQLSTATE = "25006"


def is_read_only_server(exc: BaseException) -> bool:
    """True when `exc` says the server we are connected to takes no writes."""
    return getattr(driver_error(exc), "sqlstate", None) == READ_ONLY_SQLSTATE


def driver_error(exc: BaseException) -> BaseException:
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return exc.orig
    return exc


def _mentions_connection(error: BaseException) -> bool:
    text = str(error).lower()
    return any(message in text for message in _CONNECTION_MESSAGES)


def is_connection_lost(exc: BaseException) -> bool:
    """True when `exc` says the database cannot be reached (or written) at all."""
    if isinstance(exc, PoolTimeoutError):
        return True  # QueuePool limit reached: no connection within the pool timeout
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True  # SQLAlchemy saw the connection die (restart, failover, network)
    orig = driver_error(exc)
    if isinstance(orig, psycopg.Error):
        sqlstate = orig.sqlstate
        if sqlstate:
            return sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES
        # Client-side errors carry no SQLSTATE: refused, lost or closed connections.
        if isinstance(orig, psycopg.OperationalError):
            return True
        return isinstance(orig, psycopg.InterfaceError) and _mentions_connection(orig)
    if isinstance(exc, OperationalError | InterfaceError):
        return _mentions_connection(orig)
    return False
