"""the rules of the non-counter channel and personal account classes (issue 6 §6)

Revision ID: 20261206_0141
Revises: 20261206_0140
Create Date: 2026-12-06 14:40:00

- users.day_others_cny_minor: of today's total, what went to other people's accounts (the
  5万/day no-certificate ceiling of 银发〔2016〕261号 counts it, own accounts excepted);
- transfer_requests.warnings: what prepare warned of (a large day, a large first payment
  to a new payee), to be acknowledged at confirm;
- accounts.account_class (I/II/III, 银发〔2018〕16号), bound_account_id (a class II/III
  account's bound class-I account) and the class counters (bank day and bank year, in and
  out, CNY minor units). Existing accounts are class I.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_0141"
down_revision: str | None = "20261206_0140"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_COUNTERS = (
    "class_day_in_minor",
    "class_day_out_minor",
    "class_year_in_minor",
    "class_year_out_minor",
)


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("day_others_cny_minor", sa.BigInteger(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("transfer_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("warnings", sa.String(length=40), nullable=False, server_default="")
        )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("account_class", sa.String(length=3), nullable=False, server_default="I")
        )
        batch_op.add_column(sa.Column("bound_account_id", _ID, nullable=True))
        batch_op.add_column(
            sa.Column("class_day", sa.String(length=10), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("class_year", sa.Integer(), nullable=False, server_default="0")
        )
        for name in _COUNTERS:
            batch_op.add_column(sa.Column(name, sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.create_foreign_key(
            "fk_accounts_bound_account_id_accounts", "accounts", ["bound_account_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_constraint("fk_accounts_bound_account_id_accounts", type_="foreignkey")
        for name in (*_COUNTERS, "class_year", "class_day", "bound_account_id", "account_class"):
            batch_op.drop_column(name)
    with op.batch_alter_table("transfer_requests", schema=None) as batch_op:
        batch_op.drop_column("warnings")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("day_others_cny_minor")
