"""risk control: AML risk level at sign-up (issue 7 §3)

Revision ID: 20261206_0171
Revises: 20261206_0170
Create Date: 2026-12-06 15:28:00

`risk_assessments`: the level computed at sign-up, its factors, and the supervisor's
review of a high one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_0171"
down_revision: str | None = "20261206_0170"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "risk_assessments",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("factors", sa.Text(), nullable=False),
        sa.Column("review", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=36), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_risk_assessments_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_risk_assessments_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_assessments")),
    )
    with op.batch_alter_table("risk_assessments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_risk_assessments_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_risk_assessments_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_table("risk_assessments")
