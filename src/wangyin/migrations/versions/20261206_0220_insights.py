"""insights: the customer's category corrections (issue 9 §5)

Revision ID: 20261206_0220
Revises: 20261204_0060
Create Date: 2026-12-06 16:30:00

`insight_entry_categories` (one statement line) and `insight_counterparty_categories`
(always for one counterparty): a customer's own categories, which win over the rule table
of wangyin.insights.categories. The insights domain's own branch of migrations.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_0220"
down_revision: str | None = "20261204_0060"
branch_labels: str | Sequence[str] | None = ("insights",)
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "insight_entry_categories",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("posting_id", _ID, nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_insight_entry_categories_customer_id_customers",
        ),
        sa.ForeignKeyConstraint(
            ["posting_id"], ["postings.id"], name="fk_insight_entry_categories_posting_id_postings"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_insight_entry_categories"),
        sa.UniqueConstraint(
            "customer_id", "posting_id", name="uq_insight_entry_categories_customer_id_posting_id"
        ),
    )
    op.create_index(
        "ix_insight_entry_categories_posting_id", "insight_entry_categories", ["posting_id"]
    )
    op.create_table(
        "insight_counterparty_categories",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("counterparty_name", sa.String(length=100), nullable=False),
        sa.Column("counterparty_account", sa.String(length=40), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_insight_counterparty_categories_customer_id",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_insight_counterparty_categories"),
        sa.UniqueConstraint(
            "customer_id",
            "counterparty_name",
            "counterparty_account",
            name="uq_insight_counterparty_categories_customer_counterparty",
        ),
    )


def downgrade() -> None:
    op.drop_table("insight_counterparty_categories")
    op.drop_index("ix_insight_entry_categories_posting_id", table_name="insight_entry_categories")
    op.drop_table("insight_entry_categories")
