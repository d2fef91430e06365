"""scheduled and recurring transfers (issue 6 §4)

Revision ID: 20261206_0150
Revises: 20261204_0060
Create Date: 2026-12-06 14:10:00

`scheduled_transfers`: standing instructions confirmed once; `scheduled_runs`: one row per
(instruction, run number), claimed under a row lock by the worker.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_0150"
down_revision: str | None = "20261204_0060"
branch_labels: str | Sequence[str] | None = ("schedules",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scheduled_transfers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "from_account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "to_account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("payee_name", sa.String(length=50), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("remark", sa.String(length=50), nullable=False),
        sa.Column("frequency", sa.String(length=8), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("max_runs", sa.Integer(), nullable=True),
        sa.Column("runs_made", sa.Integer(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("key_digest", sa.String(length=64), nullable=False),
        sa.Column(
            "replaces_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_scheduled_transfers_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["from_account_id"],
            ["accounts.id"],
            name=op.f("fk_scheduled_transfers_from_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["replaces_id"],
            ["scheduled_transfers.id"],
            name=op.f("fk_scheduled_transfers_replaces_id_scheduled_transfers"),
        ),
        sa.ForeignKeyConstraint(
            ["to_account_id"],
            ["accounts.id"],
            name=op.f("fk_scheduled_transfers_to_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_scheduled_transfers_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_transfers")),
        sa.UniqueConstraint("public_id", name=op.f("uq_scheduled_transfers_public_id")),
    )
    op.create_index(
        op.f("ix_scheduled_transfers_customer_id"),
        "scheduled_transfers",
        ["customer_id"],
        unique=False,
    )
    op.create_index(
        "ix_scheduled_transfers_due", "scheduled_transfers", ["status", "next_run_at"], unique=False
    )
    op.create_table(
        "scheduled_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column(
            "schedule_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("transfer_public_id", sa.String(length=36), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["scheduled_transfers.id"],
            name=op.f("fk_scheduled_runs_schedule_id_scheduled_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_runs")),
        sa.UniqueConstraint("public_id", name=op.f("uq_scheduled_runs_public_id")),
        sa.UniqueConstraint("schedule_id", "seq", name=op.f("uq_scheduled_runs_schedule_id_seq")),
        sa.UniqueConstraint(
            "transfer_public_id", name=op.f("uq_scheduled_runs_transfer_public_id")
        ),
    )
    op.create_index(
        "ix_scheduled_runs_claim", "scheduled_runs", ["status", "next_attempt_at"], unique=False
    )
    op.create_index(
        op.f("ix_scheduled_runs_schedule_id"), "scheduled_runs", ["schedule_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("scheduled_runs")
    op.drop_table("scheduled_transfers")
