"""The back office's refusals, added to the project's table of stable codes
(`wangyin.errors.ERRORS`) when this domain is imported; Chinese in backoffice.po."""

from __future__ import annotations

from wangyin.errors import ERRORS

BACKOFFICE_ERRORS: dict[str, tuple[int, str]] = {
    "staff_not_authenticated": (401, "Please sign in to the back office first."),
    "staff_invalid_credentials": (
        401,
        "The login name, password or authenticator code is incorrect.",
    ),
    "staff_locked": (423, "Too many failed sign-ins: this account is locked until {until}."),
    "staff_forbidden": (403, "Your role does not allow this."),
    "enrolment_not_found": (404, "This enrolment has expired. Please sign in again."),
    "command_not_found": (404, "No such command."),
    "command_not_pending": (409, "This command has already been decided."),
    "own_command": (403, "Nobody may approve or reject a command they proposed."),
    "reason_required": (422, "Please give a reason (at least 4 characters)."),
    "staff_username_taken": (409, "This staff login name is already taken."),
    "staff_not_found": (404, "No such member of staff."),
    "not_registered": (409, "This customer has no online banking."),
    "already_professional": (409, "This customer already has the professional edition."),
    "pin_reset_invalid": (422, "The reset code is wrong or has expired."),
}

for _code, _entry in BACKOFFICE_ERRORS.items():
    if ERRORS.setdefault(_code, _entry) != _entry:
        raise RuntimeError(f"error code {_code!r} is defined twice")
