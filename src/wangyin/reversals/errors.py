"""Reversals' refusals, added to the project's table of stable codes
(`wangyin.errors.ERRORS`) when this domain is imported; Chinese in reversals.po."""

from __future__ import annotations

from wangyin.errors import ERRORS

REVERSAL_ERRORS: dict[str, tuple[int, str]] = {
    "transfer_not_reversible": (
        409,
        "Only a completed intra-bank transfer of this customer can be reversed.",
    ),
    "transfer_already_reversed": (409, "This transfer has already been reversed."),
    "reversal_insufficient_funds": (
        409,
        "The payee's account does not hold enough available money to reverse this transfer.",
    ),
    "reversal_already_proposed": (
        409,
        "A reversal or refund request of this transfer is already waiting for approval.",
    ),
    "recall_not_possible": (
        409,
        "A refund can be requested only for an inter-bank transfer the network has netted "
        "or settled.",
    ),
    "recall_already_requested": (
        409,
        "A refund of this transfer has already been requested from the receiving bank.",
    ),
    "recall_window_passed": (
        409,
        "This transfer settled too long ago for a refund request through the network.",
    ),
}

for _code, _entry in REVERSAL_ERRORS.items():
    if ERRORS.setdefault(_code, _entry) != _entry:
        raise RuntimeError(f"error code {_code!r} is defined twice")
