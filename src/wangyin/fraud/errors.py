"""The fraud domain's refusals, added to the project's table of stable codes
(`wangyin.errors.ERRORS`) when this domain is imported; Chinese in fraud.po."""

from __future__ import annotations

from wangyin.errors import ERRORS

FRAUD_ERRORS: dict[str, tuple[int, str]] = {
    # Neutral on purpose: the customer (or whoever holds their session) learns no rule.
    "operation_refused": (
        403,
        "This operation cannot be completed online. Please contact the bank or visit a branch.",
    ),
    "hold_not_found": (404, "No such held transfer."),
    "hold_not_pending": (409, "This held transfer has already been decided."),
    "rules_invalid": (422, "The rule settings are not valid: {detail}"),
}

for _code, _entry in FRAUD_ERRORS.items():
    if ERRORS.setdefault(_code, _entry) != _entry:
        raise RuntimeError(f"error code {_code!r} is defined twice")
