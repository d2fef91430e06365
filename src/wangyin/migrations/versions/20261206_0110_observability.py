"""audit copy cursor and retention markers (issue 8 §5, 4.1.6-c)

Revision ID: 20261206_0110
Revises: 20261204_0060
Create Date: 2026-12-06 13:50:00

`audit_ship_cursor`: per audit chain, the last record the audit copy holds.
`audit_pruned`: per audit chain, the keyed marker of where retention cut the chain.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_0110"
down_revision: str | None = "20261204_0060"
branch_labels: str | Sequence[str] | None = ("observability",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_ship_cursor",
        sa.Column("chain", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_ship_cursor")),
    )
    op.create_table(
        "audit_pruned",
        sa.Column("chain", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("pruned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mac_key", sa.String(length=16), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_pruned")),
    )


def downgrade() -> None:
    op.drop_table("audit_pruned")
    op.drop_table("audit_ship_cursor")
