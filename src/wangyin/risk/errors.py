"""Risk control's refusals, added to the project's table of stable codes
(`wangyin.errors.ERRORS`) when this domain is imported; Chinese in risk.po."""

from __future__ import annotations

from wangyin.errors import ERRORS

RISK_ERRORS: dict[str, tuple[int, str]] = {
    "case_not_yours": (409, "Another officer is working on this case."),
    "case_closed": (409, "This case is closed."),
    "complaint_not_found": (404, "No such complaint."),
    "blacklist_entry_not_found": (404, "No such blacklist entry."),
    "blacklist_entry_expired": (409, "This blacklist entry has already expired."),
    "case_has_no_customer": (409, "This case concerns no customer."),
    "review_already_proposed": (409, "A decision on this sign-up is already waiting for approval."),
}

for _code, _entry in RISK_ERRORS.items():
    if ERRORS.setdefault(_code, _entry) != _entry:
        raise RuntimeError(f"error code {_code!r} is defined twice")
