"""daily-limit index on transfer requests

Revision ID: 20261127_0011
Revises: 20261127_0010
Create Date: 2026-11-27 07:50:00

The daily-limit sum read every completed transfer of the customer and filtered by date;
with this index it reads one day's range, so it no longer slows as the history grows.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261127_0011"
down_revision: str | None = "20261127_0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transfer_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_transfer_requests_daily",
            ["customer_id", "currency", "status", "confirmed_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("transfer_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_transfer_requests_daily")
