"""Use cases of receipts: the payer's own receipt, and anyone's check of a receipt."""

from __future__ import annotations

from sqlalchemy.orm import Session

from wangyin.errors import DomainError
from wangyin.identity.service import CurrentUser
from wangyin.receipts import service as receipts
from wangyin.receipts.service import Receipt, VerifiedReceipt
from wangyin.runtime import AppState
from wangyin.security import ratelimit
from wangyin.uow import run_read, run_write

# A public page that answers yes or no to a guess: counted per client, 20 in 10 minutes.
VERIFY_PER_IP = 20
VERIFY_WINDOW_SECONDS = 600


def receipt(*, state: AppState, user: CurrentUser, transfer_id: str) -> Receipt:
    return run_read(
        state.db,
        lambda s: receipts.receipt_of(s, customer_id=user.customer_id, transfer_id=transfer_id),
    )


def verify(*, state: AppState, ip: str, reference: str, code: str) -> VerifiedReceipt:
    """Counted first and committed even when the check fails (rule 9: the count and the
    check in one transaction; the refusal keeps its count)."""
    now = state.clock.now()

    def action(s: Session) -> VerifiedReceipt:
        if state.settings.ratelimit_enabled:
            ratelimit.hit(
                s,
                key=f"receipt_verify:{ratelimit.client_key(ip)}",
                limit=VERIFY_PER_IP,
                window_seconds=VERIFY_WINDOW_SECONDS,
                at=now,
            )
        try:
            return receipts.verify(s, reference=reference, code=code)
        except DomainError as refusal:
            refusal.keep = True  # the count stands with the refusal
            raise

    return run_write(state.db, action)
