"""the back office: staff, their sessions, commands (maker-checker), PIN resets (issue 7)

Revision ID: 20261206_0130
Revises: 20261204_0060
Create Date: 2026-12-06 13:40:00

`staff_users` (Argon2id password, encrypted TOTP secret, role), `staff_sessions` (token
hashes), `backoffice_commands` (the maker-checker pipeline) and `pin_resets` (a counter's
transaction-password reset, finished by the customer with a texted code). The back
office's own branch of migrations.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261206_0130"
down_revision: str | None = "20261204_0060"
branch_labels: str | Sequence[str] | None = ("backoffice",)
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "staff_users",
        sa.Column("id", _ID, nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("totp_secret", sa.String(length=200), nullable=True),
        sa.Column("totp_enrolled_at", _AT, nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=False),
        sa.Column("enrolment_hash", sa.String(length=64), nullable=True),
        sa.Column("enrolment_expires_at", _AT, nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", _AT, nullable=True),
        sa.Column("created_at", _AT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_staff_users"),
        sa.UniqueConstraint("public_id", name="uq_staff_users_public_id"),
        sa.UniqueConstraint("username", name="uq_staff_users_username"),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", _ID, nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("last_seen_at", _AT, nullable=False),
        sa.Column("expires_at", _AT, nullable=False),
        sa.Column("ended_at", _AT, nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_users.id"], name="fk_staff_sessions_staff_id_staff_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_staff_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_staff_sessions_token_hash"),
    )
    op.create_index("ix_staff_sessions_staff_id", "staff_sessions", ["staff_id"])
    op.create_table(
        "backoffice_commands",
        sa.Column("id", _ID, nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("customer_id", _ID, nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("maker_id", _ID, nullable=False),
        sa.Column("checker_id", _ID, nullable=True),
        sa.Column("checker_reason", sa.String(length=300), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("decided_at", _AT, nullable=True),
        sa.Column("executed_at", _AT, nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_backoffice_commands_customer_id_customers"
        ),
        sa.ForeignKeyConstraint(
            ["maker_id"], ["staff_users.id"], name="fk_backoffice_commands_maker_id_staff_users"
        ),
        sa.ForeignKeyConstraint(
            ["checker_id"],
            ["staff_users.id"],
            name="fk_backoffice_commands_checker_id_staff_users",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_backoffice_commands"),
        sa.UniqueConstraint("public_id", name="uq_backoffice_commands_public_id"),
    )
    op.create_index(
        "ix_backoffice_commands_customer_id", "backoffice_commands", ["customer_id"]
    )
    op.create_index(
        "ix_backoffice_commands_status", "backoffice_commands", ["status", "created_at"]
    )
    op.create_table(
        "pin_resets",
        sa.Column("id", _ID, nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("expires_at", _AT, nullable=False),
        sa.Column("used_at", _AT, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_pin_resets_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_pin_resets"),
        sa.UniqueConstraint("public_id", name="uq_pin_resets_public_id"),
    )
    op.create_index("ix_pin_resets_user_id", "pin_resets", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_pin_resets_user_id", table_name="pin_resets")
    op.drop_table("pin_resets")
    op.drop_index("ix_backoffice_commands_status", table_name="backoffice_commands")
    op.drop_index("ix_backoffice_commands_customer_id", table_name="backoffice_commands")
    op.drop_table("backoffice_commands")
    op.drop_index("ix_staff_sessions_staff_id", table_name="staff_sessions")
    op.drop_table("staff_sessions")
    op.drop_table("staff_users")
