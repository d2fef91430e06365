"""gzip for the site's text (issue 9 §7: pages under 60 KB, compressed on the wire):
HTML, CSS, JavaScript and SVG only. Never /api/: JSON answers stay uncompressed, so the
transfer hot path spends no CPU on it. Never a page asked for with a query string either:
such a page can reflect what an attacker put in the link next to the session's CSRF token,
and compressing the two together leaks the token by size (BREACH); static files, which
hold no secret, are compressed whatever their version query."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.middleware.gzip import GZipResponder
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COMPRESSIBLE = frozenset(
    {"text/html", "text/css", "text/javascript", "application/javascript", "image/svg+xml"}
)
MINIMUM_SIZE = 500
LEVEL = 6  # most of level 9's saving at a fraction of its CPU


class _TextOnly(GZipResponder):
    """Starlette's responder, for the media types above and no other."""

    async def send_with_compression(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = Headers(raw=message.get("headers", []))
            media = headers.get("content-type", "").partition(";")[0].strip().lower()
            if media not in COMPRESSIBLE:
                # Handled as an excluded type: passed through untouched.
                self.exclude_content_types = (*self.exclude_content_types, media or "none/none")
        await super().send_with_compression(message)


def _wanted(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    if path.startswith("/api/"):
        return False
    if scope.get("query_string") and not path.startswith("/static/"):
        return False
    accept = Headers(scope=scope).get("accept-encoding", "")
    return "gzip" in accept.lower()


class CompressText:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _wanted(scope):
            await self.app(scope, receive, send)
            return
        responder: Any = _TextOnly(self.app, MINIMUM_SIZE, compresslevel=LEVEL)
        await responder(scope, receive, send)
