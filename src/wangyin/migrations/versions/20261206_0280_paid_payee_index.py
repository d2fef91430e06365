"""Transfers: an index for "paid this payee before" (issue 10 §4, hot account)

Revision ID: 20261206_0280
Revises: 20261204_0030
Create Date: 2026-12-06 20:00:00

Every prepare asks whether the customer has had a transfer to the payee's account
completed (a large first payment is warned of). It counted them, through the customer's
(customer_id, status) index: a cost that grew with the customer's history (a payer with
20,000 past transfers: 0.27 -> 1.73 ms of PostgreSQL per prepare). Prepare now asks
whether one exists, and this index finds it, or its absence, directly.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261206_0280"
down_revision: str | None = "20261204_0030"
branch_labels: str | Sequence[str] | None = ("payments_paid_payee",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_transfer_requests_customer_payee",
        "transfer_requests",
        ["customer_id", "to_account_id", "status"],
    )


def downgrade() -> None:
    op.drop_index("ix_transfer_requests_customer_payee", table_name="transfer_requests")
