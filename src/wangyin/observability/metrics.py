"""Prometheus metrics (4.2-f): what every route, job and money path is doing.

Labels carry only values from our own code: a route TEMPLATE (`/api/v1/accounts/{id}`,
never the path a caller sent), an HTTP method and status, an error code, an audit event
name, a job name. No label ever holds an id, a name or a number of a customer, so the
metrics can be kept and shown anywhere (tests/functional/test_observability_metrics.py).

Where the figures come from:
- HTTP requests, latency and refusals: the `Observe` middleware, per request.
- Database pool use, transaction retries and deadlocks: the engine's pool events and the
  per-process counters `wangyin.db.QueryStats` (folded in when a connection returns to the
  pool and at each scrape).
- Logins by outcome and reason, transfers by step, outcome and reason, every audited event:
  counted from the audit records a transaction wrote, once it has COMMITTED (a rolled-back
  attempt counts nothing), so the figures agree with the audit trail.
- Outbox depth, age of the oldest pending message, failed messages, audit records not yet
  shipped to the copy: read from the database at scrape time, by whichever process is
  scraped, so they are right however many workers run, and stay right when no worker runs
  at all (a dead worker shows as a growing depth, which is what to alert on).
- Outbox delivery latency, job runs, failures and durations: counted by the worker process
  (`wangyin worker`) that does the work, served on its own port
  (WANGYIN_WORKER_METRICS_PORT); `wangyin demo` runs the worker inside the app process, so
  there they appear on the app's /metrics.

`wangyin serve --workers N` runs N processes: prometheus-client's multiprocess mode, with a
directory per run (`multiprocess_directory`), sums them at scrape time.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from wangyin.db import Database
from wangyin.errors import DomainError
from wangyin.observability import logs
from wangyin.observability.logs import route_of
from wangyin.security.audit import AUDITED_KEY

log = logging.getLogger(__name__)
access_log = logging.getLogger("wangyin.access")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# --- the metrics ------------------------------------------------------------------------

# No `_created` series: half the lines, and nothing a dashboard uses.
disable_created_metrics()  # type: ignore[no-untyped-call]

REQUESTS = Counter(
    "wangyin_http_requests_total",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "wangyin_http_request_duration_seconds",
    "Time to answer, by route template and method",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REFUSALS = Counter(
    "wangyin_http_refusals_total",
    "Requests answered with an error code (problem+json or error page), by route and code",
    ["route", "code"],
)
POOL_IN_USE = Gauge(
    "wangyin_db_pool_connections_in_use",
    "Database connections checked out of this process's pools",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "wangyin_db_pool_size",
    "Configured pool size (without overflow) of this process's database engines",
    multiprocess_mode="livesum",
)
RETRIES = Counter(
    "wangyin_db_transaction_retries_total", "Whole transactions run again (uow.run_write)"
)
DEADLOCKS = Counter(
    "wangyin_db_deadlocks_total", "Transactions retried after a deadlock (should stay 0)"
)
LOGINS = Counter(
    "wangyin_logins_total",
    "Committed login attempts by outcome (success, challenged, failure, refused) and reason",
    ["outcome", "reason"],
)
TRANSFERS = Counter(
    "wangyin_transfers_total",
    "Committed transfer steps (prepare, confirm) by outcome (success, refused) and reason",
    ["step", "outcome", "reason"],
)
AUDITED = Counter(
    "wangyin_audit_events_total",
    "Committed audit records by event and outcome",
    ["event", "outcome"],
)
OUTBOX_DELIVERY = Histogram(
    "wangyin_outbox_delivery_seconds",
    "From a message's creation to its acceptance by the provider, by channel",
    ["channel"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900),
)
CLEARING_LATENCY = Histogram(
    "wangyin_clearing_gateway_seconds",
    "Time the clearing network (CNAPS gateway) took to answer, by call and outcome "
    "(answered, timeout, unavailable)",
    ["call", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30),
)
JOB_RUNS = Counter(
    "wangyin_job_runs_total", "Worker job runs by job and outcome (ok, failed)", ["job", "outcome"]
)
JOB_DURATION = Histogram(
    "wangyin_job_duration_seconds",
    "Worker job run time",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120),
)
JOB_LAST_SUCCESS = Gauge(
    "wangyin_job_last_success_timestamp_seconds",
    "When each job last ran without error (Unix time)",
    ["job"],
    multiprocess_mode="max",
)


# --- labels from our own vocabulary only --------------------------------------------------

_WORD = re.compile(r"[a-z][a-z0-9_]{0,47}")


def word(value: Any, *, default: str = "other") -> str:
    """A label value from our code's vocabulary (error codes, event names), else `default`:
    never free text that could carry a caller's data."""
    return value if isinstance(value, str) and _WORD.fullmatch(value) else default


# --- the middleware -----------------------------------------------------------------------


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _series(route: str, method: str, status: int) -> tuple[Any, Any]:
    """The request counter and latency histogram children of one route, method and status,
    looked up once: `labels()` builds and locks on every call. Bounded: routes are
    templates, methods a fixed set, statuses few."""
    key = (route, method, status)
    found = _SERIES.get(key)
    if found is None:
        found = _SERIES[key] = (
            REQUESTS.labels(route, method, str(status)),
            LATENCY.labels(route, method),
        )
    return found


class Observe:
    """Pure ASGI middleware, outermost: request id in and out, log context, metrics and one
    access log line per request. Costs a few microseconds (bench figure in
    docs/operations.md); no database work."""

    def __init__(self, app: Any, *, access_log_enabled: bool = True) -> None:
        self.app = app
        self.access_log_enabled = access_log_enabled

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent_id = None
        for name, value in scope.get("headers") or ():
            if name == b"x-request-id":
                sent_id = value.decode("latin-1")
                break
        request_id = logs.accepted_request_id(sent_id)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())
        context, token = logs.begin_request(request_id, scope)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append(header)
                message["headers"] = headers
            await send(message)

        failed = False
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            failed = True
            raise
        finally:
            elapsed = time.perf_counter() - started
            route = route_of(scope)
            method = scope.get("method", "GET")
            if method not in _METHODS:
                method = "OTHER"  # a caller's made-up method must not mint new series
            context["route"] = route
            counter, histogram = _series(route, method, status)
            counter.inc()
            histogram.observe(elapsed)
            # A 500's problem is built by Starlette's handler after this middleware.
            code = state.get("error_code") or ("internal_error" if failed else None)
            if code is not None:
                REFUSALS.labels(route, word(code)).inc()
            if self.access_log_enabled and access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %d",
                    method,
                    route,
                    status,
                    extra={
                        "method": method,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        **({"code": code} if code else {}),
                    },
                )
            if not failed:
                # Left set on an exception: Starlette's 500 handler runs after this
                # middleware, in the same task, and its log line names the request too.
                logs.end_request(token)


# --- the database: pool use, retries, deadlocks --------------------------------------------


class _Folded:
    """The part of a Database's QueryStats counters already added to the metrics."""

    def __init__(self) -> None:
        self.retries = 0
        self.deadlocks = 0
        self.lock = threading.Lock()


# Weak: a Database that is dropped (tests make many) is forgotten with it.
_WATCHED: weakref.WeakKeyDictionary[Database, _Folded] = weakref.WeakKeyDictionary()


def fold_stats(db: Database) -> None:
    """Add what `db.stats` counted since the last call to the (process-wide) counters."""
    folded = _WATCHED.get(db)
    if folded is None:
        return
    stats = db.stats
    if stats.retries == folded.retries and stats.deadlocks == folded.deadlocks:
        return  # the usual case: two integer comparisons
    with folded.lock:
        retries, deadlocks = stats.retries, stats.deadlocks
        RETRIES.inc(max(0, retries - folded.retries))
        DEADLOCKS.inc(max(0, deadlocks - folded.deadlocks))
        folded.retries, folded.deadlocks = retries, deadlocks


def watch_database(db: Database) -> None:
    """Count this database's pool use and fold its retry counters into the metrics."""
    if db in _WATCHED:
        return
    _WATCHED[db] = _Folded()
    pool_size = getattr(db.engine.pool, "size", None)
    if callable(pool_size):
        POOL_SIZE.inc(pool_size())

    @event.listens_for(db.engine, "checkout")
    def _checkout(*_args: Any) -> None:
        POOL_IN_USE.inc()

    @event.listens_for(db.engine, "checkin")
    def _checkin(*_args: Any) -> None:
        POOL_IN_USE.dec()
        fold_stats(db)


def forget_database(db: Database) -> None:
    """Stop counting `db` (its engine is being disposed of)."""
    if _WATCHED.pop(db, None) is not None:
        pool_size = getattr(db.engine.pool, "size", None)
        if callable(pool_size):
            POOL_SIZE.dec(pool_size())


# --- audited events, once committed --------------------------------------------------------


# session.info key: (channel, created_at, sent_at) of the messages this transaction sent.
DELIVERED_KEY = "wangyin.delivered"


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    delivered = session.info.pop(DELIVERED_KEY, None)
    for channel, created_at, sent_at in delivered or ():
        observe_delivery(channel, created_at, sent_at)
    records: list[tuple[str, str, str, dict[str, Any]]] | None = session.info.pop(AUDITED_KEY, None)
    if not records:
        return
    for name, outcome, actor, details in records:
        count_audited(name, outcome, details)
        if actor and actor not in ("unknown", "system"):
            logs.bind(actor=actor)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(AUDITED_KEY, None)
    session.info.pop(DELIVERED_KEY, None)


def count_audited(name: str, outcome: str, details: dict[str, Any]) -> None:
    AUDITED.labels(word(name), word(outcome)).inc()
    if name == "login":
        reason = details.get("reason")
        reasons = details.get("reasons")
        if reason is None and isinstance(reasons, list | tuple):
            reason = "+".join(sorted(word(r) for r in reasons)) or None
        LOGINS.labels(word(outcome), _reason(reason)).inc()
    elif name in ("transfer_prepared", "transfer_confirmed", "transfer_refused"):
        step = "prepare" if name == "transfer_prepared" else "confirm"
        if name == "transfer_refused":
            step = word(details.get("step"), default="unknown")
        TRANSFERS.labels(step, word(outcome), _reason(details.get("reason"))).inc()


def _reason(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, str) and all(_WORD.fullmatch(part) for part in value.split("+")):
        return value
    return "other"


# --- jobs ---------------------------------------------------------------------------------


def declare_jobs(names: Iterable[str]) -> None:
    """Every job shows in the metrics from the start, at 0 (coverage is counted by name)."""
    for name in names:
        JOB_RUNS.labels(name, "ok")
        JOB_RUNS.labels(name, "failed")
        JOB_DURATION.labels(name)


@contextlib.contextmanager
def job_run(name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    except Exception:
        JOB_RUNS.labels(name, "failed").inc()
        raise
    finally:
        JOB_DURATION.labels(name).observe(time.perf_counter() - started)
    JOB_RUNS.labels(name, "ok").inc()
    JOB_LAST_SUCCESS.labels(name).set(time.time())


def observe_delivery(channel: str, created_at: datetime, sent_at: datetime) -> None:
    from wangyin.clock import as_utc

    seconds = (as_utc(sent_at) - as_utc(created_at)).total_seconds()
    OUTBOX_DELIVERY.labels(word(channel)).observe(max(0.0, seconds))


@contextlib.contextmanager
def clearing_call(call: str) -> Iterator[None]:
    """Time one call to the clearing network; its outcome is the exception it ends with."""
    started = time.perf_counter()
    outcome = "answered"
    try:
        yield
    except Exception as error:
        name = type(error).__name__
        outcome = {"ClearingTimeout": "timeout", "ClearingUnavailable": "unavailable"}.get(
            name, "error"
        )
        raise
    finally:
        CLEARING_LATENCY.labels(word(call), outcome).observe(time.perf_counter() - started)


# --- scrape-time figures from the database --------------------------------------------------


class DatabaseFigures(Collector):
    """Outbox depth and age, failed messages, audit records waiting for the copy: read when
    scraped (one short read transaction), right whichever process is asked."""

    def __init__(self, db: Database, now: Any) -> None:
        self.db = db
        self.now = now

    def collect(self) -> Iterable[GaugeMetricFamily]:
        from wangyin.notify.models import OutboxMessage
        from wangyin.observability.models import AuditShipCursor
        from wangyin.security.models import AuditRecord
        from wangyin.uow import run_read

        def read(session: Session) -> tuple[int, Any, int, int]:
            pending, oldest = session.execute(
                select(func.count(), func.min(OutboxMessage.created_at)).where(
                    OutboxMessage.status == "pending"
                )
            ).one()
            failed = session.scalar(select(func.count()).where(OutboxMessage.status == "failed"))
            shipped = {c.chain: c.seq for c in session.scalars(select(AuditShipCursor))}
            unshipped = 0
            for chain, last in session.execute(
                select(AuditRecord.chain, func.max(AuditRecord.seq)).group_by(AuditRecord.chain)
            ):
                unshipped += max(0, int(last) - shipped.get(chain, 0))
            return int(pending), oldest, int(failed or 0), unshipped

        up = GaugeMetricFamily(
            "wangyin_metrics_database_up", "1 when the scrape could read the database figures"
        )
        try:
            pending, oldest, failed, unshipped = run_read(self.db, read)
        except Exception as exc:  # a scrape must answer even when the database does not
            log.warning("metrics: the database figures could not be read (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        age = 0.0
        if oldest is not None:
            from wangyin.clock import as_utc

            age = max(0.0, (self.now() - as_utc(oldest)).total_seconds())
        for name, doc, value in (
            ("wangyin_outbox_pending", "Messages waiting for delivery", pending),
            ("wangyin_outbox_oldest_pending_seconds", "Age of the oldest waiting message", age),
            ("wangyin_outbox_failed", "Messages given up after every attempt", failed),
            ("wangyin_audit_unshipped", "Audit records not yet in the audit copy", unshipped),
        ):
            family = GaugeMetricFamily(name, doc)
            family.add_metric([], value)
            yield family
        fold_stats(self.db)


def exposition(db: Database | None, now: Any) -> bytes:
    """The metrics text: this process's (or, in multiprocess mode, every serving process's)
    metrics, then the database figures."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        if db is not None:
            fold_stats(db)
        output = generate_latest(registry)
    else:
        if db is not None:
            fold_stats(db)
        output = generate_latest(REGISTRY)
    if db is not None:
        figures = CollectorRegistry(auto_describe=False)
        figures.register(DatabaseFigures(db, now))
        output += generate_latest(figures)
    return output


# --- who may read them -----------------------------------------------------------------------

_OPEN_NETWORKS = {"0.0.0.0/0", "::/0"}


def parse_allow_list(value: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """WANGYIN_METRICS_ALLOW: comma-separated addresses or networks (CIDR)."""
    return [
        ipaddress.ip_network(part.strip(), strict=False)
        for part in value.split(",")
        if part.strip()
    ]


def is_open(allow: str) -> bool:
    """Does the allow-list let the whole internet in?"""
    return any(str(net) in _OPEN_NETWORKS for net in parse_allow_list(allow))


def may_read(request: Request, *, allow: str, token: str) -> bool:
    """A scraper is let in by its bearer token (when one is configured), or by its address
    being in the allow-list. Anyone else gets the 404 of a page that does not exist."""
    if token:
        sent = request.headers.get("authorization", "")
        if sent.lower().startswith("bearer ") and secrets.compare_digest(
            sent[7:].strip().encode(), token.encode()
        ):
            return True
    peer = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in parse_allow_list(allow))


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    state = request.app.state.wangyin
    settings = state.settings
    if not settings.metrics_enabled or not may_read(
        request, allow=settings.metrics_allow, token=settings.metrics_token
    ):
        raise DomainError("not_found")
    body = exposition(state.db, state.clock.now)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


# --- several serving processes ----------------------------------------------------------------


@contextlib.contextmanager
def multiprocess_directory() -> Iterator[str]:
    """The directory the serving processes of one `wangyin serve --workers N` run share
    their metrics in: the operator's PROMETHEUS_MULTIPROC_DIR (emptied first: values of an
    earlier run must not be summed in), else a private temporary one, removed at exit. Set
    in the environment before the worker processes start (prometheus-client reads it at
    import)."""
    configured = os.environ.get(MULTIPROC_ENV, "").strip()
    if configured:
        os.makedirs(configured, exist_ok=True)
        for name in os.listdir(configured):
            if name.endswith(".db"):
                os.unlink(os.path.join(configured, name))
        yield configured
        return
    directory = tempfile.mkdtemp(prefix="wangyin-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    try:
        yield directory
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)
