"""secure channels (per-session field encryption keys) and one-time soft-keyboard layouts

Revision ID: 20261127_0020
Revises: 20261127_0011
Create Date: 2026-11-27 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261127_0020"
down_revision: str | None = "20261127_0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("kid", sa.String(length=40), nullable=False),
        sa.Column("suite", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("last_counter", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_channels")),
    )
    op.create_index(op.f("ix_channels_expires_at"), "channels", ["expires_at"])
    op.create_table(
        "keyboard_layouts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("digits", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_keyboard_layouts")),
    )
    op.create_index(op.f("ix_keyboard_layouts_expires_at"), "keyboard_layouts", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_keyboard_layouts_expires_at"), table_name="keyboard_layouts")
    op.drop_table("keyboard_layouts")
    op.drop_index(op.f("ix_channels_expires_at"), table_name="channels")
    op.drop_table("channels")
