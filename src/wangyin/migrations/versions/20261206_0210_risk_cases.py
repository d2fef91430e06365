"""risk control: complaints, case messages, sign-up declarations, blacklist masks
(issue 7 §3, §5)

Revision ID: 20261206_0210
Revises: 20261206_0171
Create Date: 2026-12-06 16:30:00

`risk_cases` gains a public id (the customer's reference of a complaint), an external
reference (a fraud hold's), the complaint's subject, text and transfer. `risk_case_messages`:
what the customer wrote and what the bank answered. `risk_declarations`: the occupation
and intended use declared at sign-up (AML factors). `risk_blacklist.masked`: the listed
number as staff may see it (the number itself is kept only as its hash).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_0210"
down_revision: str | None = "20261206_0171"
branch_labels: str | Sequence[str] | None = ("risk_cases",)
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("risk_cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("reference", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("subject", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("body", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("transfer_id", sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f("ix_risk_cases_public_id"), ["public_id"], unique=True)
        batch_op.create_index("ix_risk_cases_status_priority", ["status", "priority"])
    with op.batch_alter_table("risk_blacklist", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("masked", sa.String(length=50), nullable=False, server_default="")
        )
    op.create_table(
        "risk_case_messages",
        sa.Column("id", _ID, nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.Column("sender", sa.String(length=16), nullable=False),
        sa.Column("staff_id", sa.String(length=36), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["risk_cases.id"], name=op.f("fk_risk_case_messages_case_id_risk_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_case_messages")),
    )
    with op.batch_alter_table("risk_case_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_risk_case_messages_case_id"), ["case_id"], unique=False
        )
    op.create_table(
        "risk_declarations",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("occupation", sa.String(length=32), nullable=False),
        sa.Column("product_use", sa.String(length=32), nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_risk_declarations_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_declarations")),
    )
    with op.batch_alter_table("risk_declarations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_risk_declarations_customer_id"), ["customer_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("risk_declarations")
    op.drop_table("risk_case_messages")
    with op.batch_alter_table("risk_blacklist", schema=None) as batch_op:
        batch_op.drop_column("masked")
    with op.batch_alter_table("risk_cases", schema=None) as batch_op:
        batch_op.drop_index("ix_risk_cases_status_priority")
        batch_op.drop_index(batch_op.f("ix_risk_cases_public_id"))
        batch_op.drop_column("transfer_id")
        batch_op.drop_column("body")
        batch_op.drop_column("subject")
        batch_op.drop_column("reference")
        batch_op.drop_column("public_id")
