"""The insights domain's refusals, added to the project's table of stable codes
(`wangyin.errors.ERRORS`) when this domain is imported; Chinese in insights.po."""

from __future__ import annotations

from wangyin.errors import ERRORS

INSIGHTS_ERRORS: dict[str, tuple[int, str]] = {
    "invalid_month": (
        422,
        "The month must be written YYYY-MM, from 2000-01 up to this month.",
    ),
    "invalid_category": (422, "There is no such category."),
    "statement_line_not_found": (404, "No such transaction on your statements."),
}

for _code, _entry in INSIGHTS_ERRORS.items():
    if ERRORS.setdefault(_code, _entry) != _entry:
        raise RuntimeError(f"error code {_code!r} is defined twice")
