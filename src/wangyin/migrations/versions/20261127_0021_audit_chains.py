"""audit trail in independent chains

Revision ID: 20261127_0021
Revises: 20261127_0020
Create Date: 2026-11-27 08:20:00

Records already written stay in chain 0 and keep their hashes; new records of a customer
go to chain (customer id mod 16), so customers no longer queue on one head row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261127_0021"
down_revision: str | None = "20261127_0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain", sa.Integer(), nullable=False, server_default="0"))
        batch_op.drop_constraint("uq_audit_records_seq", type_="unique")
        batch_op.create_unique_constraint("uq_audit_records_chain_seq", ["chain", "seq"])


def downgrade() -> None:
    # Only possible while every record is still in chain 0.
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.drop_constraint("uq_audit_records_chain_seq", type_="unique")
        batch_op.create_unique_constraint("uq_audit_records_seq", ["seq"])
        batch_op.drop_column("chain")
