"""device credentials and password history (issue 11 #7, #15)

Revision ID: 20261204_0060
Revises: 20261204_0050
Create Date: 2026-12-04 23:00:00

A bound device is recognised by the credential the bank issued at binding, kept as a
keyed hash (`devices.credential_hash`), no longer by the id the client names itself: the
devices bound before have no credential and are marked removed (each binds again, once,
with the code and the ID number). A night login from a bound device remembers which one
(`login_challenges.bound_device_id`), so its credential is replaced when the code is
entered. `password_history` keeps the Argon2id hashes of a user's earlier login passwords.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204_0060"
down_revision: str | None = "20261204_0050"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credential_hash", sa.String(length=100), nullable=True))
    # A binding of before was a name any client could send: it binds nothing now.
    op.execute(
        sa.text("UPDATE devices SET removed_at = CURRENT_TIMESTAMP WHERE removed_at IS NULL")
    )
    with op.batch_alter_table("login_challenges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bound_device_id", _ID, nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_login_challenges_bound_device_id_devices"),
            "devices",
            ["bound_device_id"],
            ["id"],
        )
    op.create_table(
        "password_history",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_password_history_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_history")),
    )
    op.create_index(op.f("ix_password_history_user_id"), "password_history", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_password_history_user_id"), table_name="password_history")
    op.drop_table("password_history")
    with op.batch_alter_table("login_challenges", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("fk_login_challenges_bound_device_id_devices"), type_="foreignkey"
        )
        batch_op.drop_column("bound_device_id")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("credential_hash")
