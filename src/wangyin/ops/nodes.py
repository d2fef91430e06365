"""Several app nodes behind HAProxy: the drain on SIGTERM, and the proxy's configuration.

A rolling restart stops one node at a time. uvicorn alone, on SIGTERM, closes its
listening socket at once and finishes the requests it has; a load balancer that still
counts the node as up keeps sending it new connections meanwhile, which fail. So the
first SIGTERM here only *drains*: `/readyz` answers 503 `draining` while the node keeps
serving for `drain_seconds`, long enough for the balancer's health checks (every
`inter`, `fall` misses) to take it out; then uvicorn's own graceful shutdown runs (stop
accepting, finish in-flight requests within `timeout_graceful_shutdown`, exit). More
SIGTERMs change nothing (systemd signals every process of the unit and uvicorn's
supervisor signals its workers again); SIGINT (Ctrl-C) skips what is left of the drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import jinja2
import uvicorn
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.supervisors import multiprocess

from wangyin.errors import DomainError

log = logging.getLogger(__name__)

DRAIN_ENV = "WANGYIN_DRAIN_SECONDS"
# deploy/haproxy/haproxy.cfg.j2 of a checkout (the CLI reads it from the working directory).
HAPROXY_TEMPLATE = Path("deploy") / "haproxy" / "haproxy.cfg.j2"

# Set once this process was told to stop: /readyz answers 503 from then on.
_draining = threading.Event()


def draining() -> bool:
    return _draining.is_set()


def start_draining() -> None:
    _draining.set()


def drain_seconds_from_env() -> float:
    return max(0.0, float(os.environ.get(DRAIN_ENV) or 0))


class AnswerCutRequests:
    """ASGI wrapper: a request still running when the graceful timeout cuts it (uvicorn
    cancels its task and would answer a bare 500 with a traceback in the log) is answered
    503 `service_unavailable` with Retry-After, if nothing was sent yet: a stopping node
    is no bug, and the client may try again (with its Idempotency-Key where money moves)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except asyncio.CancelledError:
            if not draining():
                raise
            log.warning("request cut at the graceful timeout: %s", scope.get("path", ""))
            if not started:
                from wangyin.app import problem  # the app's problem+json, in its language
                from wangyin.web.availability import RETRY_AFTER_SECONDS

                error = DomainError("service_unavailable", retry_after=RETRY_AFTER_SECONDS)
                with contextlib.suppress(Exception):  # the client may be gone as well
                    await problem(Request(scope), error, reason="stopping")(scope, receive, send)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with a drain before its graceful shutdown (module docstring)."""

    def __init__(self, config: uvicorn.Config, drain_seconds: float | None = None) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds_from_env() if drain_seconds is None else drain_seconds
        self._drain_until: float | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.config.loaded_app = AnswerCutRequests(self.config.loaded_app)
        await super().startup(sockets=sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        start_draining()
        if sig == signal.SIGTERM and self.drain_seconds > 0 and not self.should_exit:
            if self._drain_until is None:
                self._drain_until = time.monotonic() + self.drain_seconds
                log.warning("SIGTERM: draining for %.1f s, /readyz answers 503", self.drain_seconds)
            return
        self._drain_until = None
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._drain_until is not None and time.monotonic() >= self._drain_until:
            self._drain_until = None
            # uvicorn's own exit path: closes the socket, waits for in-flight requests,
            # and re-raises the SIGTERM once stopped (the exit status says why).
            super().handle_exit(signal.SIGTERM, None)
        return await super().on_tick(counter)


class _DrainingProcess(multiprocess.Process):
    """A `--workers N` child whose server drains too. Pickled by reference into the
    spawned child, which reads the drain from the environment it inherits."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = DrainingServer(config=self.config)
        return self._server


def serve(config: uvicorn.Config, sock: socket.socket, *, drain_seconds: float) -> None:
    """Serve on `sock` with `config.workers` processes, each draining on SIGTERM."""
    os.environ[DRAIN_ENV] = str(drain_seconds)  # for the spawned workers
    if config.workers > 1:
        sock.listen(2048)
        # The supervisor builds its children from this module global; ours drain.
        multiprocess.Process = _DrainingProcess  # type: ignore[misc]
        multiprocess.Multiprocess(config, sockets=[sock]).run()
    else:
        DrainingServer(config, drain_seconds=drain_seconds).run(sockets=[sock])


# --- HAProxy ------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    name: str
    address: str  # host:port ([v6]:port for IPv6)


def parse_node(text: str, index: int) -> Node:
    """`name=host:port` or `host:port` (named node<index>)."""
    name, _, address = text.rpartition("=")
    return Node(name or f"node{index}", address)


@dataclass(frozen=True)
class HealthCheck:
    """How HAProxy probes `/readyz`: every `inter_ms`, down after `fall` misses, up after
    `rise` answers. A drain must outlast inter_ms * fall (plus one probe's timeout)."""

    inter_ms: int = 1000
    fall: int = 2
    rise: int = 2
    timeout_ms: int = 2000

    def drain_seconds(self) -> float:
        """The shortest drain that lets the checks take a node out before it stops."""
        return (self.inter_ms * (self.fall + 1) + self.timeout_ms) / 1000


def haproxy_config(
    *,
    nodes: list[Node],
    listen: str,
    check: HealthCheck | None = None,
    stats_socket: str | None = None,
    log: str | None = None,
    template: Path | None = None,
) -> str:
    """haproxy.cfg from the repository's template (deploy/haproxy/haproxy.cfg.j2)."""
    if not nodes:
        raise ValueError("at least one node")
    path = template or HAPROXY_TEMPLATE
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(path.parent)),
        autoescape=False,  # noqa: S701  # nosec B701 - a configuration file, not HTML
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return environment.get_template(path.name).render(
        nodes=nodes,
        listen=listen,
        check=check or HealthCheck(),
        stats_socket=stats_socket,
        log=log,  # e.g. "stdout" in a container, "/dev/log" with rsyslog
    )


def haproxy_states(stats_socket: str, backend: str = "wangyin_nodes") -> dict[str, str]:
    """Each node's state as HAProxy sees it (`UP`, `DOWN`, `UP 1/2` while rising, ...),
    from its admin socket: what a rolling restart waits on before the next node."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(stats_socket)
        sock.sendall(b"show stat\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    lines = b"".join(chunks).decode().splitlines()
    header = lines[0].lstrip("# ").split(",")
    rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
    return {
        row["svname"]: row["status"]
        for row in rows
        if row.get("pxname") == backend and row["svname"] not in ("FRONTEND", "BACKEND")
    }
