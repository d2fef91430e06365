"""Staff of the back office, their sessions, the command pipeline (maker-checker) and
the one-time transaction-password resets that a command opens for a customer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wangyin.db import Base, BigIntPK


class StaffUser(Base):
    """A member of staff: one role, an Argon2id password and a TOTP second factor."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))  # permissions.ROLES
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | disabled
    password_hash: Mapped[str] = mapped_column(String(200))
    # The TOTP secret, encrypted under the keyring's data key and bound to public_id
    # (backoffice.totp); None until the first login enrols one.
    totp_secret: Mapped[str | None] = mapped_column(String(200))
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The last time step a code was accepted for: a code is good once (RFC 6238 §5.2).
    totp_last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    # An enrolment in progress: the SHA-256 of its token, and when it ends.
    enrolment_hash: Mapped[str | None] = mapped_column(String(64))
    enrolment_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StaffSession(Base):
    """A back-office session. Only the SHA-256 of its token is stored."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Command(Base):
    """One sensitive action, proposed by a maker and decided by a checker (Fineract's
    command pipeline): PENDING -> EXECUTED | REJECTED. Kinds that need no checker are
    EXECUTED when proposed. The payload holds no secret and no personal number."""

    __tablename__ = "backoffice_commands"
    __table_args__ = (Index("ix_backoffice_commands_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    payload: Mapped[str] = mapped_column(Text, default="{}")  # canonical JSON
    reason: Mapped[str] = mapped_column(String(300), default="")  # the maker's
    status: Mapped[str] = mapped_column(String(16))  # PENDING | EXECUTED | REJECTED
    maker_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    checker_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    checker_reason: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    executed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PinReset(Base):
    """A transaction-password reset approved at the counter: the customer sets the new
    PIN with the code texted to their reserved mobile. Only a keyed hash of it is kept."""

    __tablename__ = "pin_resets"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
