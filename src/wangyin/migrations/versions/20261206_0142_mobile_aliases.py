"""mobile aliases: transfer by mobile number (issue 6 §2)

Revision ID: 20261206_0142
Revises: 20261206_0141
Create Date: 2026-12-06 15:00:00

`mobile_aliases`: one per customer and per mobile (the reserved mobile's keyed look-up
hash), naming the account that receives payments by that number.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_0142"
down_revision: str | None = "20261206_0141"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "mobile_aliases",
        sa.Column("id", _ID, nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("mobile_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_mobile_aliases_customer_id_customers"
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_mobile_aliases_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_mobile_aliases"),
        sa.UniqueConstraint("public_id", name="uq_mobile_aliases_public_id"),
        sa.UniqueConstraint("customer_id", name="uq_mobile_aliases_customer_id"),
        sa.UniqueConstraint("mobile_hash", name="uq_mobile_aliases_mobile_hash"),
    )
    op.create_index("ix_mobile_aliases_account_id", "mobile_aliases", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_mobile_aliases_account_id", table_name="mobile_aliases")
    op.drop_table("mobile_aliases")
