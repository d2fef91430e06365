"""IBPS mobile aliases at other banks (issue 6 §2)

Revision ID: 20261206_0250
Revises: 20261206_0160
Create Date: 2026-12-06 17:10:00

`cnaps_sim_aliases`: the CNAPS simulator's directory of mobile numbers registered as payee
aliases at other banks (超级网银 手机号转账), keyed by the mobile's look-up hash; each alias
signs the reference tokens the network hands to a paying bank with its own key.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_0250"
down_revision: str | None = "20261206_0160"
branch_labels: str | Sequence[str] | None = ("ibps_aliases",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cnaps_sim_aliases",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("mobile_hash", sa.String(length=64), nullable=False),
        sa.Column("bank_code", sa.String(length=12), nullable=False),
        sa.Column("account", sa.String(length=34), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("token_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cnaps_sim_aliases")),
        sa.UniqueConstraint("mobile_hash", name=op.f("uq_cnaps_sim_aliases_mobile_hash")),
    )


def downgrade() -> None:
    op.drop_table("cnaps_sim_aliases")
