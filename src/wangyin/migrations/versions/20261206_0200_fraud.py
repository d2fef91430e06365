"""fraud: counters per account, held transfers, rule sets, anomaly models, decisions (issue 7 section 4)

Revision ID: 20261206_0200
Revises: 20261204_0060
Create Date: 2026-12-06 16:16:47.554692
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_0200"
down_revision: str | None = "20261204_0060"
branch_labels: str | Sequence[str] | None = ("fraud",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fraud_ip_counters",
        sa.Column("ip_hash", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("users", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("ip_hash", name=op.f("pk_fraud_ip_counters")),
    )
    op.create_table(
        "fraud_rule_sets",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("approved_by", sa.String(length=60), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_fraud_rule_sets")),
    )
    with op.batch_alter_table("fraud_rule_sets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fraud_rule_sets_active"), ["active"], unique=False)

    op.create_table(
        "fraud_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("hits", sa.String(length=300), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("rules_version", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_fraud_events_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fraud_events")),
    )
    with op.batch_alter_table("fraud_events", schema=None) as batch_op:
        batch_op.create_index("ix_fraud_events_at", ["at"], unique=False)

    op.create_table(
        "fraud_models",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("trees", sa.Text(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_fraud_models_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fraud_models")),
    )
    with op.batch_alter_table("fraud_models", schema=None) as batch_op:
        batch_op.create_index("ix_fraud_models_customer", ["customer_id", "version"], unique=False)

    op.create_table(
        "fraud_counters",
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("out_hour_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("out_hour_count", sa.Integer(), nullable=False),
        sa.Column("out_day", sa.String(length=10), nullable=False),
        sa.Column("out_day_count", sa.Integer(), nullable=False),
        sa.Column("out_day_sum", sa.BigInteger(), nullable=False),
        sa.Column("out_day_near", sa.Integer(), nullable=False),
        sa.Column("in_day", sa.String(length=10), nullable=False),
        sa.Column("in_payers", sa.Text(), nullable=False),
        sa.Column("last_inflow_minor", sa.BigInteger(), nullable=False),
        sa.Column("last_inflow_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payees", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_fraud_counters_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_fraud_counters")),
    )
    op.create_table(
        "fraud_holds",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("transfer_id", sa.String(length=36), nullable=False),
        sa.Column(
            "transfer_row", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("hits", sa.String(length=300), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("rules_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=36), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_fraud_holds_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_row"],
            ["transfer_requests.id"],
            name=op.f("fk_fraud_holds_transfer_row_transfer_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fraud_holds")),
        sa.UniqueConstraint("transfer_id", name=op.f("uq_fraud_holds_transfer_id")),
        sa.UniqueConstraint("transfer_row", name=op.f("uq_fraud_holds_transfer_row")),
    )
    with op.batch_alter_table("fraud_holds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fraud_holds_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index("ix_fraud_holds_status", ["status", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("fraud_holds", schema=None) as batch_op:
        batch_op.drop_index("ix_fraud_holds_status")
        batch_op.drop_index(batch_op.f("ix_fraud_holds_customer_id"))

    op.drop_table("fraud_holds")
    op.drop_table("fraud_counters")
    with op.batch_alter_table("fraud_models", schema=None) as batch_op:
        batch_op.drop_index("ix_fraud_models_customer")

    op.drop_table("fraud_models")
    with op.batch_alter_table("fraud_events", schema=None) as batch_op:
        batch_op.drop_index("ix_fraud_events_at")

    op.drop_table("fraud_events")
    with op.batch_alter_table("fraud_rule_sets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fraud_rule_sets_active"))

    op.drop_table("fraud_rule_sets")
    op.drop_table("fraud_ip_counters")
