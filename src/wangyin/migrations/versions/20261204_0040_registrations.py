"""registrations waiting for the code sent to the reserved mobile (issue 11 #16)

Revision ID: 20261204_0040
Revises: 20261204_0030
Create Date: 2026-12-04 21:00:00

Self-registration no longer creates the online-banking user at once: the application is
kept here (login name, password hashes, a keyed hash of the code) until the code texted to
the customer's reserved mobile is entered.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204_0040"
down_revision: str | None = "20261204_0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registrations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("transaction_pin_hash", sa.String(length=200), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("code_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_registrations_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registrations")),
        sa.UniqueConstraint("public_id", name=op.f("uq_registrations_public_id")),
    )
    op.create_index(op.f("ix_registrations_customer_id"), "registrations", ["customer_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_registrations_customer_id"), table_name="registrations")
    op.drop_table("registrations")
