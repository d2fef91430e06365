"""Engine and sessions for SQLite (embedded default) and PostgreSQL (production).

SQLite runs in WAL mode with synchronous=FULL, and every write transaction starts with
`BEGIN IMMEDIATE` so writers queue on the database lock up front instead of failing on
upgrade. PostgreSQL uses row locks (`SELECT … FOR UPDATE`) taken by the ledger.
"""

from __future__ import annotations

import contextlib
import re
import threading
import weakref
from collections import namedtuple
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import BigInteger, Integer, MetaData, Table, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.base import Executable

from wangyin.dbfaults import is_read_only_server

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# 64-bit keys on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def table_of(model: type[Base]) -> Table:
    """A model's Core table, for the explicit SQL of hot paths (typed as a Table)."""
    table = model.__table__
    assert isinstance(table, Table)  # noqa: S101 - declarative models always map a Table
    return table


def normalize_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use the psycopg 3 driver for them."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


# With several hosts, only these make libpq skip a standby (a failover's old primary, or
# the standby listed first).
_WRITABLE_SESSION_ATTRS = ("read-write", "primary")


def check_multi_host(url: str) -> None:
    """A URL naming several PostgreSQL hosts must ask for the writable one: without
    target_session_attrs libpq takes the first that answers, which may be a standby."""
    parsed = make_url(url)
    hosts = parsed.query.get("host") or ()
    listed = (hosts,) if isinstance(hosts, str) else tuple(hosts)
    several = len(listed) > 1 or any("," in h for h in (*listed, parsed.host or ""))
    attrs = parsed.query.get("target_session_attrs")
    if several and attrs not in _WRITABLE_SESSION_ATTRS:
        raise ValueError(
            "a database URL with several hosts needs target_session_attrs=read-write "
            "(docs/operations.md, Synchronous standby and failover)"
        )


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    check_multi_host(url)
    # No pre-ping: it costs a round trip on every checkout. A connection that died under
    # us is invalidated by SQLAlchemy and the unit of work retries (uow.is_retryable).
    # With a multi-host URL (`?host=h1:p1&host=h2:p2&target_session_attrs=read-write`)
    # the new connection goes to whichever node is the primary now.
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
    )

    @event.listens_for(engine, "before_cursor_execute")
    def _psycopg_opens_the_transaction(conn: Any, *_args: Any) -> None:
        # `read_together` sends BEGIN itself, in the round trip of its reads, so it leaves
        # psycopg in autocommit mode (and the next hot-path transaction finds it so: no
        # switching back and forth). Any other statement that would start a transaction
        # gives psycopg back its own BEGIN. (Registered before the statement counter,
        # which counts that BEGIN's round trip.)
        if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return  # asked for by its caller (VACUUM, a backup's session lock): kept
        raw = _driver(conn)
        if raw is not None and raw.autocommit and raw.info.transaction_status == _IDLE:
            raw.autocommit = False

    @event.listens_for(engine, "handle_error")
    def _standby_is_a_lost_primary(context: Any) -> None:
        # A standby's "read-only transaction" is a disconnect: SQLAlchemy then drops the
        # whole pool, so the retry connects anew and finds the primary.
        if is_read_only_server(context.original_exception):
            context.is_disconnect = True

    return engine


def _sqlite_engine(url: str) -> Engine:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=20,
        max_overflow=20,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so we can issue BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


@dataclass
class QueryStats:
    """What this process asked of its database: statements and network round trips.

    A round trip is one wait for the server: each statement, and on PostgreSQL the BEGIN
    that psycopg sends before the first statement and the COMMIT or ROLLBACK. SQLite is in
    process (no network), so its round trips equal its statements. The statement-budget
    test and `bench/` read these counters; they cost two integer additions per statement.
    """

    statements: int = 0
    round_trips: int = 0
    # Whole transactions run again (`uow.run_write`), and of those, deadlocks (40P01): the
    # one lock order should make deadlocks impossible, so the concurrency proof wants 0.
    retries: int = 0
    deadlocks: int = 0

    def snapshot(self) -> tuple[int, int]:
        return self.statements, self.round_trips


_STATS: weakref.WeakKeyDictionary[Engine, QueryStats] = weakref.WeakKeyDictionary()
_IDLE = 0  # libpq's PQTRANS_IDLE: no transaction open on the server


def _driver(connection: Any) -> Any:
    """The psycopg connection under an SQLAlchemy connection, or None when it was lost
    (asking an invalidated connection for it would try to reconnect)."""
    if connection.invalidated or connection.closed:
        return None
    return getattr(connection.connection, "driver_connection", None)


def _count_queries(engine: Engine, stats: QueryStats) -> None:
    _STATS[engine] = stats
    networked = engine.dialect.name != "sqlite"

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(conn: Any, _cursor: Any, statement: Any, *_args: Any) -> None:
        if isinstance(statement, str) and statement.startswith("BEGIN"):
            return  # SQLite's BEGIN IMMEDIATE, issued by _on_begin: transaction control
        stats.statements += 1
        stats.round_trips += 1
        raw = _driver(conn) if networked else None
        if raw is not None and not raw.autocommit and raw.info.transaction_status == _IDLE:
            stats.round_trips += 1  # psycopg sends BEGIN first, and waits for it

    if networked:

        def _ends_transaction(conn: Any) -> None:
            raw = _driver(conn)
            if raw is not None and raw.info.transaction_status != _IDLE:
                stats.round_trips += 1  # COMMIT or ROLLBACK goes out (not already sent)

        event.listen(engine, "commit", _ends_transaction)
        event.listen(engine, "rollback", _ends_transaction)


# ---------------------------------------------------------------------------------------
# Deferred writes: the trailing writes of a hot-path transaction share one round trip.
#
# A write whose result nobody reads (an UPDATE of a row already locked, an INSERT whose id
# is not needed) is queued with `defer_write` instead of executed. The queue is flushed
# before the session's next statement (so a later read always sees it) and at COMMIT
# (`flush_deferred`, called by the unit of work). On PostgreSQL a flush of several writes
# is ONE statement: each write becomes a data-modifying CTE (`WITH w0 AS (UPDATE …),
# w1 AS (INSERT …) SELECT 1`); they see one snapshot, which is why only writes to
# different rows may be deferred together (each hot path defers writes to distinct rows).
# On SQLite (in process, no round trips) they simply run one by one.

_DEFERRED = "wangyin.deferred_writes"
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def defer_write(session: Session, statement: Executable, params: dict[str, Any]) -> None:
    """Queue a write that returns nothing; it runs before the next statement or COMMIT."""
    session.info.setdefault(_DEFERRED, []).append((statement, params))


def flush_deferred(session: Session) -> None:
    """Run the queued writes now: one statement on PostgreSQL."""
    writes: list[tuple[Executable, dict[str, Any]]] = session.info.pop(_DEFERRED, [])
    if not writes:
        return
    connection = session.connection()
    if len(writes) == 1 or connection.dialect.name != "postgresql":
        # Adjacent rows for the same statement go as one executemany.
        index = 0
        while index < len(writes):
            statement, params = writes[index]
            batch = [params]
            while (
                index + len(batch) < len(writes)
                and writes[index + len(batch)][0] is statement
                and writes[index + len(batch)][1].keys() == params.keys()
            ):
                batch.append(writes[index + len(batch)][1])
            connection.execute(statement, batch if len(batch) > 1 else params)
            index += len(batch)
        return
    connection.exec_driver_sql(*_batch(connection.dialect, writes))


def _batch(
    dialect: Any, writes: list[tuple[Executable, dict[str, Any]]]
) -> tuple[str, dict[str, Any]]:
    """Several writes as one PostgreSQL statement of data-modifying CTEs. The combined SQL
    is built once per shape (the same few sequences of writes repeat on the hot path)."""
    compiled = [_compiled_write(dialect, statement, params) for statement, params in writes]
    # The compiled strings are the cached objects themselves: hashing and comparing the
    # tuple is cheap (a str caches its hash; equal objects compare by identity first).
    shape = tuple(part for part, _ in compiled)
    sql = _BATCHES.get(shape)
    if sql is None:
        parts = []
        for index, part in enumerate(shape):
            renamed = _PLACEHOLDER.sub(f"%(w{index}_\\1)s", part)
            parts.append(f"w{index} AS ({renamed})")
        sql = _BATCHES[shape] = "WITH " + ", ".join(parts) + " SELECT 1"
    bound: dict[str, Any] = {}
    for index, (_, values) in enumerate(compiled):
        prefix = f"w{index}_"
        for name, value in values.items():
            bound[prefix + name] = value
    return sql, bound


_BATCHES: dict[tuple[str, ...], str] = {}

# psycopg converts a query's %(name)s placeholders on every execution unless the query is
# under 4,096 bytes and 50 parameters (then an LRU cache answers). The batched trailing
# writes above are over both, so each transfer paid a full re-parse (~4 % of server CPU).
# Their shapes are few and fixed, so let the cache hold them. (psycopg is pinned; the
# test `test_psycopg_caches_batched_writes` fails if these names go away.)
psycopg._queries.MAX_CACHED_STATEMENT_LENGTH = 65536
psycopg._queries.MAX_CACHED_STATEMENT_PARAMS = 1000


class _Binder:
    """A compiled statement's parameters bound per execution in one pass: which bound name
    takes which of the caller's values (through its column's bind processor), and the
    statement's own constants, processed once. SQLAlchemy's `construct_params` redoes that
    mapping on every call (~10 % of the DB layer's CPU on the transfer path); the mapping
    is read off it once, by binding marked values."""

    __slots__ = ("compiled", "fixed", "slots")

    def __init__(self, compiled: Any, keys: tuple[str, ...]) -> None:
        self.compiled = compiled
        processors = compiled._bind_processors
        marks = {key: _Mark(key) for key in keys}
        self.fixed: dict[str, Any] | None = {}
        self.slots: list[tuple[str, str, Any]] = []
        if any(bind.callable is not None for bind in compiled.bind_names):
            self.fixed = None  # a value computed per execution: bind the slow way
            return
        for name, value in compiled.construct_params(marks).items():
            processor = processors.get(name)
            if isinstance(value, _Mark):
                self.slots.append((name, value.key, processor))
            else:
                self.fixed[name] = processor(value) if processor is not None else value

    def bind(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.fixed is None:
            values = self.compiled.construct_params(params)
            processors = self.compiled._bind_processors
            return {
                name: processors[name](value) if name in processors else value
                for name, value in values.items()
            }
        bound = self.fixed.copy()
        for name, key, processor in self.slots:
            value = params[key]
            bound[name] = processor(value) if processor is not None else value
        return bound


class _Mark:
    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key


_COMPILED: dict[tuple[Executable, tuple[str, ...]], tuple[str, _Binder]] = {}


def _compiled_write(
    dialect: Any, statement: Executable, params: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The write's SQL (cached per statement and parameter names) and its bound values,
    passed through the columns' bind processors as SQLAlchemy's own execution does."""
    key = (statement, tuple(sorted(params)))
    found = _COMPILED.get(key)
    if found is None:
        # for_executemany: no implicit RETURNING of the new row's id (nothing reads it).
        compiled = statement.compile(  # type: ignore[attr-defined]
            dialect=dialect, column_keys=list(key[1]), for_executemany=True
        )
        if "POSTCOMPILE" in compiled.string:
            raise ValueError("a deferred write cannot use an expanding IN parameter")
        found = _COMPILED[key] = (compiled.string, _Binder(compiled, key[1]))
    return found[0], found[1].bind(params)


@event.listens_for(Session, "before_commit")
def _flush_before_commit(session: Session) -> None:
    flush_deferred(session)  # the unit of work flushes first; this keeps any other commit safe


@event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session: Session) -> None:
    session.info.pop(_DEFERRED, None)


@event.listens_for(Session, "do_orm_execute")
def _flush_before_next_statement(state: Any) -> None:
    # A statement that only reads rows no deferred write touches may say so
    # (`execution_options(deferred_ok=True)`) and keep the queue for the COMMIT's batch.
    if state.session.info.get(_DEFERRED) and not state.execution_options.get("deferred_ok"):
        flush_deferred(state.session)


# ---------------------------------------------------------------------------------------
# Reads together: the statements a decision needs, in one round trip on PostgreSQL.
#
# psycopg 3's pipeline mode sends several statements and waits once. `read_together` runs
# a list of SELECTs that do not depend on each other's results in one such round trip,
# preceded by the queued deferred writes and, when the transaction has not begun yet, by
# its BEGIN (psycopg would otherwise send BEGIN alone and wait for it). `commit` sends the
# last deferred writes with the COMMIT, also in one round trip. On SQLite both simply run
# the statements in order. Rows come back with attribute access, through the columns'
# result processors (an encrypted column arrives decrypted), as SQLAlchemy would give them.


class _Prepared:
    __slots__ = ("binder", "results", "row", "sql")

    def __init__(self, dialect: Any, statement: Executable, keys: tuple[str, ...]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))  # type: ignore[attr-defined]
        if "POSTCOMPILE" in compiled.string:
            raise ValueError("read_together cannot run an expanding IN parameter")
        self.sql: str = compiled.string
        self.binder = _Binder(compiled, keys)
        columns = compiled._result_columns
        self.row = namedtuple("Row", [c.keyname for c in columns], rename=True)  # type: ignore[misc]
        self.results = [c.type._cached_result_processor(dialect, None) for c in columns]

    def params(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.binder.bind(params)

    def rows(self, fetched: list[tuple[Any, ...]]) -> list[Any]:
        results, row = self.results, self.row
        if not any(results):  # nothing to convert: most hot-path reads
            return [row(*raw) for raw in fetched]
        return [
            row(*[f(v) if f is not None else v for f, v in zip(results, raw, strict=True)])
            for raw in fetched
        ]


_PREPARED: dict[tuple[Executable, tuple[str, ...]], _Prepared] = {}


def _prepared(dialect: Any, statement: Executable, params: dict[str, Any]) -> _Prepared:
    key = (statement, tuple(sorted(params)))
    found = _PREPARED.get(key)
    if found is None:
        found = _PREPARED[key] = _Prepared(dialect, statement, key[1])
    return found


_CURSORS = "wangyin.cursors"


def _cursors(connection: Any, raw: Any, n: int) -> list[Any]:
    """At least n + 1 cursors of this database connection, made once and kept with it (the
    pool's record of the connection): psycopg builds a cursor and its adapters map per
    `cursor()`, ~10 % of its CPU on the transfer path. The first is for statements whose
    result nobody reads (BEGIN, the batched writes); each read of a pipeline has its own."""
    kept: list[Any] = connection.connection.info.setdefault(_CURSORS, [])
    if kept and kept[0].connection is not raw:
        kept.clear()  # a reconnection: those belong to the connection that was lost
    while len(kept) <= n:
        kept.append(raw.cursor())
    return kept


def is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def read_together(
    session: Session, reads: Sequence[tuple[Executable, dict[str, Any]]]
) -> list[list[Any]]:
    """Run independent SELECTs (FOR UPDATE included, executed in the order given, so a lock
    order holds) and return each one's rows: one round trip on PostgreSQL."""
    if not reads:
        return []  # an empty pipeline would still wait for the server once
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return [list(session.execute(statement, params)) for statement, params in reads]
    raw = _driver(connection)
    writes = session.info.pop(_DEFERRED, [])
    batch = _batch(connection.dialect, writes) if writes else None
    begin = raw.info.transaction_status == _IDLE
    prepared = [_prepared(connection.dialect, statement, params) for statement, params in reads]
    try:
        if begin and not raw.autocommit:
            # BEGIN goes out with the reads, not alone; psycopg stays in autocommit mode
            # until a statement of another path needs it to open a transaction itself.
            raw.autocommit = True
        unread, *cursors = _cursors(connection, raw, len(reads))
        with raw.pipeline():
            if begin:
                unread.execute("BEGIN")
            if batch is not None:
                unread.execute(batch[0], batch[1])
            for cursor, plan, (_, params) in zip(cursors, prepared, reads, strict=False):
                cursor.execute(plan.sql, plan.params(params))
        results = [
            plan.rows(cursor.fetchall()) for plan, cursor in zip(prepared, cursors, strict=False)
        ]
    except psycopg.Error as exc:
        raise _wrapped(connection, exc, prepared[0].sql if prepared else "") from exc
    stats = _STATS.get(connection.engine)
    if stats is not None:
        stats.statements += len(reads) + (batch is not None)
        stats.round_trips += 1
    return results


def commit(session: Session) -> None:
    """Commit the session's transaction; on PostgreSQL the deferred writes go with the
    COMMIT in one round trip. Errors come as SQLAlchemy's (`DBAPIError` and subclasses)."""
    session.flush()  # the ORM's own pending changes first, in the transaction
    connection = session.connection()
    raw = _driver(connection) if connection.dialect.name == "postgresql" else None
    writes = session.info.get(_DEFERRED) if raw is not None else None
    if raw is None or not writes:
        flush_deferred(session)
        session.commit()
        return
    session.info.pop(_DEFERRED)
    sql, bound = _batch(connection.dialect, writes)
    # psycopg sends BEGIN and waits for it first, unless a transaction is open or it is in
    # autocommit mode (then the one batched statement is its own transaction).
    alone = raw.info.transaction_status == _IDLE and not raw.autocommit
    unread = _cursors(connection, raw, 0)[0]
    try:
        with raw.pipeline():
            unread.execute(sql, bound)
            raw.commit()
    except psycopg.Error as exc:
        raise _wrapped(connection, exc, sql) from exc
    stats = _STATS.get(connection.engine)
    if stats is not None:
        stats.statements += 1
        stats.round_trips += 2 if alone else 1
    session.commit()  # SQLAlchemy's bookkeeping: the connection is idle, nothing is sent


def _wrapped(connection: Any, exc: psycopg.Error, sql: str) -> Exception:
    """A psycopg error as SQLAlchemy would have raised it, so retries and the 503
    handling treat both paths alike; a broken connection is invalidated."""
    raw = _driver(connection)
    lost = raw is None or raw.closed or raw.broken or is_read_only_server(exc)
    error = DBAPIError.instance(sql, None, exc, psycopg.Error, connection_invalidated=lost)
    if lost:
        with contextlib.suppress(Exception):
            # As SQLAlchemy does on its own disconnects: every connection of the pool made
            # before now is replaced at its next checkout (after a failover they all lead
            # to the old primary), then this one.
            connection.engine.pool._invalidate(connection.connection, exc, _checkin=False)
            connection.invalidate()
    return error


class Database:
    """The engine plus two session factories: writers and readers."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url, pool_size=pool_size)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.stats = QueryStats()
        _count_queries(self.engine, self.stats)
        self.write_sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Readers on SQLite take no write lock (BEGIN DEFERRED) so they never queue
        # behind transfers; on PostgreSQL both factories are the same.
        read_engine = (
            self.engine.execution_options(sqlite_begin="DEFERRED")
            if self.is_sqlite
            else self.engine
        )
        self.read_sessions = sessionmaker(read_engine, expire_on_commit=False)
        # SQLite has one writer at a time. Threads of this process queue on a lock instead
        # of on SQLite's busy handler, which polls with sleeps of up to 100 ms.
        self.write_lock: AbstractContextManager[object] = (
            threading.Lock() if self.is_sqlite else nullcontext()
        )

    def dispose(self) -> None:
        self.engine.dispose()

    def new_session(self) -> Session:
        return self.write_sessions()
