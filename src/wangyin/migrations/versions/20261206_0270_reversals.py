"""reversals: intra-bank transfers reversed (冲正) and refunds requested from the receiving
bank (退汇申请), from risk cases under maker-checker (issue 7 §5)

Revision ID: 20261206_0270
Revises: 20261204_0060
Create Date: 2026-12-06 17:30:00

`transfer_reversals`: at most one per transfer, with the opposite journal entry, the
approved command and the case. `interbank_recalls`: our requests to the receiving bank and
its answer. Case and inter-bank transfer ids are plain columns (their tables are on other
branches).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_0270"
down_revision: str | None = "20261204_0060"
branch_labels: str | Sequence[str] | None = ("reversals",)
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "transfer_reversals",
        sa.Column("id", _ID, nullable=False),
        sa.Column("transfer_id", _ID, nullable=False),
        sa.Column("journal_entry_id", _ID, nullable=False),
        sa.Column("command_id", sa.String(length=36), nullable=False),
        sa.Column("case_id", _ID, nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("reversed_by", sa.String(length=48), nullable=False),
        sa.Column("reversed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["transfer_requests.id"],
            name=op.f("fk_transfer_reversals_transfer_id_transfer_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["journal_entry_id"],
            ["journal_entries.id"],
            name=op.f("fk_transfer_reversals_journal_entry_id_journal_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_reversals")),
        sa.UniqueConstraint("transfer_id", name=op.f("uq_transfer_reversals_transfer_id")),
        sa.UniqueConstraint(
            "journal_entry_id", name=op.f("uq_transfer_reversals_journal_entry_id")
        ),
    )
    with op.batch_alter_table("transfer_reversals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transfer_reversals_case_id"), ["case_id"])
    op.create_table(
        "interbank_recalls",
        sa.Column("id", _ID, nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("transfer_id", _ID, nullable=False),
        sa.Column("command_id", sa.String(length=36), nullable=False),
        sa.Column("case_id", _ID, nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("answer_reason", sa.String(length=40), nullable=False),
        sa.Column("requested_by", sa.String(length=48), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interbank_recalls")),
        sa.UniqueConstraint("public_id", name=op.f("uq_interbank_recalls_public_id")),
    )
    with op.batch_alter_table("interbank_recalls", schema=None) as batch_op:
        batch_op.create_index("ix_interbank_recalls_status", ["status"])
        batch_op.create_index(batch_op.f("ix_interbank_recalls_transfer_id"), ["transfer_id"])
        batch_op.create_index(batch_op.f("ix_interbank_recalls_case_id"), ["case_id"])


def downgrade() -> None:
    op.drop_table("interbank_recalls")
    op.drop_table("transfer_reversals")
