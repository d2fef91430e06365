"""care mode: users.care_mode (issue 9 §3)

Revision ID: 20261206_0180
Revises: 20261204_0060
Create Date: 2026-12-06 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_0180"
down_revision: str | None = "20261204_0060"
branch_labels: str | Sequence[str] | None = ("experience",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("care_mode", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("care_mode")
