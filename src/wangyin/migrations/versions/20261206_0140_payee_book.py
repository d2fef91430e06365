"""the payee book (issue 6 §3)

Revision ID: 20261206_0140
Revises: 20261204_0060
Create Date: 2026-12-06 14:10:00

`payees`: a customer's saved payees. The number is encrypted and bound to the row's
public id, found by its keyed look-up hash (unique per customer); its last four digits
are kept in clear for searching. The payments domain's own branch of migrations.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_0140"
down_revision: str | None = "20261204_0060"
branch_labels: str | Sequence[str] | None = ("payees",)
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "payees",
        sa.Column("id", _ID, nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("number", sa.String(length=300), nullable=False),
        sa.Column("number_hash", sa.String(length=64), nullable=False),
        sa.Column("number_tail", sa.String(length=4), nullable=False),
        sa.Column("account_id", _ID, nullable=True),
        sa.Column("initials", sa.String(length=50), nullable=False),
        sa.Column("nickname", sa.String(length=50), nullable=False),
        sa.Column("limit_minor", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name="fk_payees_customer_id_customers"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_payees_account_id_accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_payees"),
        sa.UniqueConstraint("public_id", name="uq_payees_public_id"),
        sa.UniqueConstraint("customer_id", "number_hash", name="uq_payees_customer_id_number_hash"),
    )
    op.create_index("ix_payees_customer_id", "payees", ["customer_id"])
    op.create_index("ix_payees_account_id", "payees", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_payees_account_id", table_name="payees")
    op.drop_index("ix_payees_customer_id", table_name="payees")
    op.drop_table("payees")
