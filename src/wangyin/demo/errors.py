"""The demo's refusals, added to the project's table of stable codes
(`wangyin.errors.ERRORS`) when this domain is imported; Chinese in help.po."""

from __future__ import annotations

from wangyin.errors import ERRORS

DEMO_ERRORS: dict[str, tuple[int, str]] = {
    "demo_read_only": (
        403,
        "This is the demo: it cannot change anything or move money. "
        "Leave the demo to use your own online banking.",
    ),
    "demo_expired": (401, "The demo has ended. Start it again to have another look."),
    "payee_name_required": (422, "Enter the payee's name."),
    "payee_account_invalid": (422, "Enter the payee's account or card number: 12 to 19 digits."),
}

for _code, _entry in DEMO_ERRORS.items():
    if ERRORS.setdefault(_code, _entry) != _entry:
        raise RuntimeError(f"error code {_code!r} is defined twice")
