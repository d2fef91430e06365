"""Pure ASGI middleware: pick the language, add security headers to every response."""

from __future__ import annotations

import contextlib
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from wangyin.i18n import pick_language

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)

Scope = dict[str, Any]


class SecurityAndLanguage:
    def __init__(self, app: Any, *, hsts: bool) -> None:
        self.app = app
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

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
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

        await self.app(scope, receive, send_with_headers)
