"""Pure ASGI middleware: pick the language, add security headers to every response, and
refuse what no route should ever see (issue 11 #1, #11): a body over the size limit
(by Content-Length, and by counting the bytes as they stream in), and control characters
in the path or the query string."""

from __future__ import annotations

import contextlib
import json
import logging
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from wangyin.errors import ERRORS
from wangyin.i18n import gettext, pick_language
from wangyin.text import has_control

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 64 * 1024
# Paths that take a file: batch transfer uploads (2 MB, batches.service.MAX_FILE_BYTES, and
# the form around it). Past this, refused like any other body before it is read whole.
LARGER_BODY_PATHS = {
    "/api/v1/batches/upload": 2 * 1024 * 1024 + 16 * 1024,
    "/transfer/batches/upload": 2 * 1024 * 1024 + 16 * 1024,
}
# Until errors.py has `request_too_large` (413), the problem carries `validation_error`
# with this message (translated in messages.po).
TOO_LARGE_CODE = "request_too_large" if "request_too_large" in ERRORS else "validation_error"
TOO_LARGE_TEXT = (
    ERRORS[TOO_LARGE_CODE][1]
    if TOO_LARGE_CODE != "validation_error"
    else "The request is too large."
)
# Longer than any Content-Length under the limit could be: refused without int().
_MAX_LENGTH_DIGITS = 18

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)

Scope = dict[str, Any]

_REDIRECTS = {301, 302, 303, 307, 308}


def relative_location(location: bytes, host: bytes) -> bytes | None:
    """An absolute redirect to the request's own Host, as a path (None: leave it alone).

    Starlette's trailing-slash redirect (`redirect_slashes`) writes `Location:
    http://<Host header>/path`: whoever sets the Host header picks the site the browser
    (or a shared cache) is sent to (issue 11 #15). A path is the same place on whatever
    host the browser asked. Leading slashes and backslashes collapse into one slash, so
    the path can never read as `//other.site` (a network-path reference)."""
    scheme, sep, rest = location.partition(b"://")
    if not sep or scheme.lower() not in (b"http", b"https"):
        return None
    netloc, slash, path = rest.partition(b"/")
    if not host or netloc.lower() != host.lower():
        return None
    return b"/" + (slash + path).lstrip(b"/\\")


def _configured_limit(scope: Scope) -> int:
    """The app's `max_body_bytes` setting (Starlette puts the app into the scope)."""
    state = getattr(getattr(scope.get("app"), "state", None), "wangyin", None)
    settings = getattr(state, "settings", None)
    limit = getattr(settings, "max_body_bytes", None)
    return limit if isinstance(limit, int) else DEFAULT_MAX_BODY_BYTES


def _declared_too_large(raw: dict[bytes, bytes], limit: int) -> bool:
    value = raw.get(b"content-length", b"").strip()
    if not value.isdigit():
        return False  # absent (chunked) or malformed: the server refuses the latter
    return len(value) > _MAX_LENGTH_DIGITS or int(value) > limit


def _has_control_in_target(scope: Scope) -> bool:
    if has_control(scope.get("path", "")):
        return True
    query = scope.get("query_string", b"").decode("latin-1")
    return has_control(unquote_plus(query, errors="replace"))


def _refusal(
    path: str, lang: str, status: int, code: str, text: str, request_id: str | None = None
) -> tuple[bytes, bytes]:
    """The refusal's body and content type: RFC 9457 problem details for the API (as
    `app.problem` writes them), one plain sentence for pages."""
    message = gettext(text, lang)
    if not path.startswith("/api/"):
        return message.encode(), b"text/plain; charset=utf-8"
    body = {
        "type": f"urn:wangyin:problem:{code}",
        "title": message,
        "status": status,
        "code": code,
        "detail": message,
        "instance": path,
        "request_id": request_id,  # observability.metrics.Observe, the outer middleware
    }
    return json.dumps(body, ensure_ascii=False).encode(), b"application/problem+json"


class SecurityAndLanguage:
    def __init__(self, app: Any, *, hsts: bool, max_body_bytes: int | None = None) -> None:
        """`max_body_bytes`: the largest request body; None reads the app's
        `settings.max_body_bytes`."""
        self.app = app
        self.max_body_bytes = max_body_bytes
        headers = [
            (b"content-security-policy", CSP.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        if hsts:
            headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = dict(scope.get("headers") or [])
        query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("lang", [None])[0]
        cookie_lang = None
        if b"cookie" in raw:
            jar: SimpleCookie = SimpleCookie()
            # A malformed cookie header just means no language choice.
            with contextlib.suppress(Exception):
                jar.load(raw[b"cookie"].decode("latin-1"))
            if "lang" in jar:
                cookie_lang = jar["lang"].value
        accept = raw.get(b"accept-language", b"").decode("latin-1")
        lang = pick_language(query, cookie_lang, accept)
        scope.setdefault("state", {})["lang"] = lang
        set_cookie = query is not None and query == lang and query != cookie_lang
        path = scope.get("path", "")
        no_store = not path.startswith("/static/")

        host = raw.get(b"host", b"")

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if message.get("status") in _REDIRECTS:
                    headers = [
                        (name, relative_location(value, host) or value)
                        if name.lower() == b"location"
                        else (name, value)
                        for name, value in headers
                    ]
                headers.extend(self.headers)
                headers.append((b"content-language", b"zh-CN" if lang == "zh" else b"en"))
                if no_store:
                    # Banking pages and API answers must not sit in shared or browser caches.
                    headers.append((b"cache-control", b"no-store"))
                if set_cookie:
                    headers.append(
                        (
                            b"set-cookie",
                            f"lang={lang}; Path=/; Max-Age=31536000; SameSite=Lax".encode(),
                        )
                    )
                message["headers"] = headers
            await send(message)

        async def refuse(status: int, code: str, text: str) -> None:
            state = scope["state"]
            state["error_code"] = code
            body, content_type = _refusal(path, lang, status, code, text, state.get("request_id"))
            headers = [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ]
            if status == 413:
                headers.append((b"connection", b"close"))
            await send_with_headers(
                {"type": "http.response.start", "status": status, "headers": headers}
            )
            await send_with_headers({"type": "http.response.body", "body": body})

        if _has_control_in_target(scope):
            await refuse(422, "validation_error", ERRORS["validation_error"][1])
            return
        limit = self.max_body_bytes if self.max_body_bytes is not None else _configured_limit(scope)
        limit = max(limit, LARGER_BODY_PATHS.get(path, 0))
        if _declared_too_large(raw, limit):
            await refuse(413, TOO_LARGE_CODE, TOO_LARGE_TEXT)
            return

        received = 0
        refused = False
        started = False

        async def limited_receive() -> dict[str, Any]:
            """Counts the body as it streams in; past the limit, answers 413 (unless the
            app has already answered) and tells the app the client has gone."""
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await refuse(413, TOO_LARGE_CODE, TOO_LARGE_TEXT)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: dict[str, Any]) -> None:
            nonlocal started
            if refused and not started:
                return  # the 413 is the answer; the app's own reply to the "disconnect" is not
            if message["type"] == "http.response.start":
                started = True
            await send_with_headers(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused:
                raise
            # The app failed reading a body it was told had been cut off: answered already.
            log.debug("request body over %d bytes refused on %s", limit, path, exc_info=True)
