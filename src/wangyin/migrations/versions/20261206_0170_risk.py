"""risk control: blacklist and cases (issue 7 §3, §5)

Revision ID: 20261206_0170
Revises: 20261204_0060
Create Date: 2026-12-06 15:20:00

`risk_blacklist`: listed persons, cards, mobiles, devices (keyed look-up hashes) and IP
ranges (CIDR). `risk_cases`: cases opened by blacklist hits, worked by risk officers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_0170"
down_revision: str | None = "20261204_0060"
branch_labels: str | Sequence[str] | None = ("risk",)
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "risk_blacklist",
        sa.Column("id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value_hash", sa.String(length=64), nullable=True),
        sa.Column("cidr", sa.String(length=50), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expired_reason", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_blacklist")),
    )
    with op.batch_alter_table("risk_blacklist", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_risk_blacklist_value_hash"), ["value_hash"], unique=False
        )
    op.create_table(
        "risk_cases",
        sa.Column("id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("customer_id", _ID, nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assignee", sa.String(length=36), nullable=True),
        sa.Column("outcome", sa.String(length=300), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_risk_cases_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_cases")),
    )
    with op.batch_alter_table("risk_cases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_risk_cases_customer_id"), ["customer_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("risk_cases")
    op.drop_table("risk_blacklist")
