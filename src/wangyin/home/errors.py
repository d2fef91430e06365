"""The home domain's refusals, added to the project's table of stable codes
(`wangyin.errors.ERRORS`) when this domain is imported; Chinese in home.po."""

from __future__ import annotations

from wangyin.errors import ERRORS

HOME_ERRORS: dict[str, tuple[int, str]] = {
    "unknown_function": (422, "There is no function called {key}."),
    "duplicate_function": (422, "{key} is pinned twice."),
    "too_many_quick_functions": (422, "You can pin at most {limit} quick functions."),
    "function_not_pinned": (422, "{key} is not one of your quick functions."),
}

for _code, _entry in HOME_ERRORS.items():
    if ERRORS.setdefault(_code, _entry) != _entry:
        raise RuntimeError(f"error code {_code!r} is defined twice")
