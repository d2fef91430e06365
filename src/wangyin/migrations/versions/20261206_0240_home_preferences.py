"""home preferences: the hide-amounts eye and the pinned quick functions (issue 9 §2)

Revision ID: 20261206_0240
Revises: 20261204_0060
Create Date: 2026-12-06 16:30:00

`home_preferences`: one row per customer, written when they first choose; no row means
amounts shown and the bank's default quick functions. The home domain's own branch.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_0240"
down_revision: str | None = "20261204_0060"
branch_labels: str | Sequence[str] | None = ("home",)
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "home_preferences",
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("amounts_hidden", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("quick_functions", sa.String(length=400), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_home_preferences_customer_id_customers"
        ),
        sa.PrimaryKeyConstraint("customer_id", name="pk_home_preferences"),
    )


def downgrade() -> None:
    op.drop_table("home_preferences")
