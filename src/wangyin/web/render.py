"""Jinja2 templates with translations, money formatting and integrity-checked assets."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from wangyin.clock import BANK_TZ, as_utc
from wangyin.i18n import gettext
from wangyin.money import format_grouped
from wangyin.security.masking import mask_account_number, mask_card, mask_mobile, mask_name

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"


@cache
def asset_integrity(path: str) -> tuple[str, str]:
    """URL with a content version and the SRI hash of a static file (4.1.2.1-a)."""
    data = (STATIC_DIR / path).read_bytes()
    sri = "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()
    version = hashlib.sha256(data).hexdigest()[:12]
    return f"/static/{path}?v={version}", sri


def _local_time(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    if moment is None:
        return ""
    return as_utc(moment).astimezone(BANK_TZ).strftime(fmt)


def _grouped(amount: str) -> str:
    """A plain decimal string as the customer reads it: "5000000.00" -> "5,000,000.00"."""
    whole, dot, fraction = amount.partition(".")
    sign = "-" if whole.startswith("-") else ""
    digits = whole.lstrip("-")
    return f"{sign}{int(digits):,}{dot}{fraction}" if digits.isdigit() else amount


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(WEB_DIR / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = lambda minor, currency: format_grouped(int(minor), currency)
    env.filters["grouped"] = _grouped
    env.filters["localtime"] = _local_time
    env.filters["mask_account"] = mask_account_number
    env.filters["mask_card"] = mask_card
    env.filters["mask_mobile"] = mask_mobile
    env.filters["mask_name"] = mask_name
    env.globals["asset"] = asset_integrity
    return env


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    lang = getattr(request.state, "lang", "zh")

    def _(text: str, **params: Any) -> str:
        return gettext(text, lang, **params)

    values = {
        "request": request,
        "lang": lang,
        "_": _,
        "path": request.url.path,
        "user": getattr(request.state, "page_user", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        # Seconds until an idle session ends (web/context.py page_user): the timeout warning.
        "session_left": getattr(request.state, "session_left", 0),
        "idle_minutes": getattr(request.state, "idle_minutes", 0),
    }
    values.update(context or {})
    if values.get("error") and not values.get("errors"):
        # `errors` (field id -> message, templates/_errors.html); a plain `error` is about
        # the form as a whole.
        error = values["error"]
        values["errors"] = error if isinstance(error, dict) else {"": error}
    html = environment().get_template(template).render(values)
    return HTMLResponse(html, status_code=status)
