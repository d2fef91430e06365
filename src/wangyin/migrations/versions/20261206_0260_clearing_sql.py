"""Inter-bank transfers: an index for "paid this payee before" (issue 6 §1 on issue 10 §4)

Revision ID: 20261206_0260
Revises: 20261206_0160
Create Date: 2026-12-06 17:20:00

Every inter-bank prepare asks whether the customer has had a transfer to the same payee
account settled (a large first payment is warned of). With only (customer_id, id) that
reads all of the customer's inter-bank transfers, a cost that grows with history; this
index answers it from the matching rows.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261206_0260"
down_revision: str | None = "20261206_0160"
branch_labels: str | Sequence[str] | None = ("clearing_sql",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_interbank_customer_payee",
        "interbank_transfers",
        ["customer_id", "payee_account", "status"],
    )


def downgrade() -> None:
    op.drop_index("ix_interbank_customer_payee", table_name="interbank_transfers")
