"""inter-bank transfers through the clearing network (issue 6 §1)

Revision ID: 20261206_0160
Revises: 20261204_0060
Create Date: 2026-12-06 14:04:52

`bank_branches`: the bank directory (联行号). `interbank_transfers`: a customer's transfers
to other banks and their clearing states. `reconciliation_runs`/`_mismatches`: the daily
match of the network's statements. `cnaps_sim_items`/`_accounts`: the CNAPS simulator's own
book (the demo's and the tests' network). The clearing domain's own branch of migrations.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_0160"
down_revision: str | None = "20261204_0060"
branch_labels: str | Sequence[str] | None = ("clearing",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bank_branches",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("bank_code", sa.String(length=3), nullable=False),
        sa.Column("bank_name", sa.String(length=60), nullable=False),
        sa.Column("branch_name", sa.String(length=100), nullable=False),
        sa.Column("city", sa.String(length=30), nullable=False),
        sa.Column("initials", sa.String(length=120), nullable=False),
        sa.Column("head_office", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_branches")),
        sa.UniqueConstraint("code", name=op.f("uq_bank_branches_code")),
    )
    with op.batch_alter_table("bank_branches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bank_branches_bank_code"), ["bank_code"], unique=False)

    op.create_table(
        "cnaps_sim_accounts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("bank_code", sa.String(length=3), nullable=False),
        sa.Column("account", sa.String(length=34), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cnaps_sim_accounts")),
        sa.UniqueConstraint("account", name=op.f("uq_cnaps_sim_accounts_account")),
    )
    op.create_table(
        "cnaps_sim_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("msg_id", sa.String(length=36), nullable=False),
        sa.Column("system", sa.String(length=4), nullable=False),
        sa.Column("bank_code", sa.String(length=12), nullable=False),
        sa.Column("account", sa.String(length=34), nullable=False),
        sa.Column("payee_name", sa.String(length=60), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("return_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cnaps_sim_items")),
        sa.UniqueConstraint("msg_id", name=op.f("uq_cnaps_sim_items_msg_id")),
    )
    with op.batch_alter_table("cnaps_sim_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cnaps_sim_items_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "reconciliation_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("system", sa.String(length=4), nullable=False),
        sa.Column("statement", sa.String(length=300), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("mismatched", sa.Integer(), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_runs")),
    )
    with op.batch_alter_table("reconciliation_runs", schema=None) as batch_op:
        batch_op.create_index("ux_reconciliation_day_system", ["day", "system"], unique=True)

    op.create_table(
        "reconciliation_mismatches",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=36), nullable=False),
        sa.Column("ours", sa.String(length=60), nullable=False),
        sa.Column("theirs", sa.String(length=60), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reconciliation_runs.id"],
            name=op.f("fk_reconciliation_mismatches_run_id_reconciliation_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_mismatches")),
    )
    with op.batch_alter_table("reconciliation_mismatches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reconciliation_mismatches_run_id"), ["run_id"], unique=False
        )

    op.create_table(
        "interbank_transfers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "from_account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("bank_code", sa.String(length=12), nullable=False),
        sa.Column("bank_name", sa.String(length=160), nullable=False),
        sa.Column("payee_account", sa.String(length=34), nullable=False),
        sa.Column("payee_name", sa.String(length=60), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("remark", sa.String(length=100), nullable=False),
        sa.Column("speed", sa.String(length=12), nullable=False),
        sa.Column("system", sa.String(length=4), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("network_code", sa.String(length=8), nullable=False),
        sa.Column("key_digest", sa.String(length=64), nullable=False),
        sa.Column("warnings", sa.String(length=40), nullable=False),
        sa.Column("confirmed_with", sa.String(length=32), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("send_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_interbank_transfers_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["from_account_id"],
            ["accounts.id"],
            name=op.f("fk_interbank_transfers_from_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_interbank_transfers_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interbank_transfers")),
        sa.UniqueConstraint("public_id", name=op.f("uq_interbank_transfers_public_id")),
    )
    with op.batch_alter_table("interbank_transfers", schema=None) as batch_op:
        batch_op.create_index("ix_interbank_customer", ["customer_id", "id"], unique=False)
        batch_op.create_index("ix_interbank_status_due", ["status", "send_after"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_interbank_transfers_from_account_id"), ["from_account_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("interbank_transfers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_interbank_transfers_from_account_id"))
        batch_op.drop_index("ix_interbank_status_due")
        batch_op.drop_index("ix_interbank_customer")

    op.drop_table("interbank_transfers")
    with op.batch_alter_table("reconciliation_mismatches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reconciliation_mismatches_run_id"))

    op.drop_table("reconciliation_mismatches")
    with op.batch_alter_table("reconciliation_runs", schema=None) as batch_op:
        batch_op.drop_index("ux_reconciliation_day_system")

    op.drop_table("reconciliation_runs")
    with op.batch_alter_table("cnaps_sim_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cnaps_sim_items_received_at"))

    op.drop_table("cnaps_sim_items")
    op.drop_table("cnaps_sim_accounts")
    with op.batch_alter_table("bank_branches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bank_branches_bank_code"))

    op.drop_table("bank_branches")
