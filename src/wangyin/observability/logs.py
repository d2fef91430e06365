"""Structured logs: one JSON object per line, each carrying the request it belongs to.

Every request gets a request id: the caller's `X-Request-ID` when it is short and made of
safe characters (so a load balancer's id follows the request through), otherwise one we
make. It is answered in the `X-Request-ID` header and in every problem+json body, and
every log line written while the request runs carries it, with the route TEMPLATE (never
the raw path: paths hold account and transfer ids) and the caller's public id once an
audited action names it. Nothing else about the request is logged: no query string, no
header, no body, so no secret or personal number can reach a log line this way.
"""

from __future__ import annotations

import logging
import logging.config
import re
import secrets
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Literal

LogFormat = Literal["json", "text"]

REQUEST_ID_HEADER = "x-request-id"
# Long enough for a UUID, a W3C trace id or an AWS/ALB id; short and plain enough that a
# caller cannot smuggle a log line, a script or a personal number of any length into it.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,63}")
# A run of 11+ digits in a caller's id could be a mobile, ID or card number: refused.
_LONG_DIGITS = re.compile(r"\d{11}")

# Per request: a dict, not separate values, so that a field set inside a worker thread
# (FastAPI runs sync routes in a thread with a copy of this context) reaches the access
# log line the middleware writes afterwards: the copy holds the same dict.
_REQUEST: ContextVar[dict[str, Any] | None] = ContextVar("wangyin_request", default=None)


def new_request_id() -> str:
    return secrets.token_hex(16)


def accepted_request_id(sent: str | None) -> str:
    """The caller's request id if it is safe to log and to echo, else a new one."""
    if sent and _SAFE_REQUEST_ID.fullmatch(sent) and not _LONG_DIGITS.search(sent):
        return sent
    return new_request_id()


def begin_request(
    request_id: str, scope: dict[str, Any] | None = None
) -> tuple[dict[str, Any], Any]:
    """Start a request's log context; returns it and the token that ends it. With the
    ASGI scope, lines logged once the request is routed name its route template."""
    context: dict[str, Any] = {"request_id": request_id, "_scope": scope}
    return context, _REQUEST.set(context)


def end_request(token: Any) -> None:
    _REQUEST.reset(token)


def bind(**fields: str) -> None:
    """Add fields to the current request's log context (no-op outside a request)."""
    context = _REQUEST.get()
    if context is not None:
        context.update(fields)


def current() -> dict[str, Any]:
    return {k: v for k, v in (_REQUEST.get() or {}).items() if not k.startswith("_")}


# Only these context fields are ever written: public, non-personal values.
CONTEXT_FIELDS = ("request_id", "route", "actor")


class RequestContext(logging.Filter):
    """Puts the request's id, route template and public actor id on every record
    (`text`: a plain-text format names `request_id`, so records outside a request get
    "-")."""

    def __init__(self, text: bool = False) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        context = _REQUEST.get()
        if self.text and not hasattr(record, "request_id"):
            record.request_id = (context or {}).get("request_id", "-")
        if context:
            scope = context.get("_scope")
            if "route" not in context and scope is not None and _routed(scope):
                context["route"] = route_of(scope)
            for name in CONTEXT_FIELDS:
                value = context.get(name)
                if value is not None and not hasattr(record, name):
                    setattr(record, name, value)
        return True


UNMATCHED = "<unmatched>"


def _routed(scope: Mapping[str, Any]) -> bool:
    fastapi_scope = scope.get("fastapi")
    return "route" in scope or (
        isinstance(fastapi_scope, dict) and "effective_route_context" in fastapi_scope
    )


def route_of(scope: Mapping[str, Any]) -> str:
    """The route template the request matched, prefix included (FastAPI keeps the matched
    route's effective context in the scope: `scope["route"]` is the router's own route,
    whose path lacks the prefix of `include_router`), the mount's path for a mounted app
    (/static), or UNMATCHED."""
    fastapi_scope = scope.get("fastapi")
    context = (
        fastapi_scope.get("effective_route_context") if isinstance(fastapi_scope, dict) else None
    )
    if context is not None:
        effective = getattr(context, "starlette_route", None) or context
        path = getattr(effective, "path", None)
        if isinstance(path, str) and path:
            return path
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    app = scope.get("app")
    request_path = scope.get("path", "")
    for mount in getattr(getattr(app, "router", None), "routes", ()):
        prefix = getattr(mount, "path", None)
        is_mount = hasattr(mount, "app") and isinstance(prefix, str) and prefix
        if is_mount and (request_path == prefix or request_path.startswith(f"{prefix}/")):
            return str(prefix)
    return UNMATCHED


JSON_FORMATTER = "pythonjsonlogger.json.JsonFormatter"
_JSON_FIELDS = ["asctime", "levelname", "name", "process", "message"]
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def logging_config(*, fmt: LogFormat = "json", level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` for the app, its worker and uvicorn (which applies it
    in every worker process of `wangyin serve --workers N`)."""
    if fmt == "json":
        formatter: dict[str, Any] = {
            "()": JSON_FORMATTER,
            "fmt": _JSON_FIELDS,
            "rename_fields": {
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
                "process": "pid",  # which serving process, under --workers N
            },
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
            "json_ensure_ascii": False,
        }
    else:
        formatter = {"format": _TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": RequestContext, "text": fmt == "text"}},
        "formatters": {"main": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "filters": ["request"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # uvicorn's own handlers would print plain text beside ours: route it to root.
            "uvicorn": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
        },
    }


def configure(*, fmt: LogFormat = "json", level: str = "INFO") -> None:
    logging.config.dictConfig(logging_config(fmt=fmt, level=level))
