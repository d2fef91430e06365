"""Append-only, hash-chained audit records (4.1.4-d/e, 4.1.5.2-f, 4.4-c2)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wangyin.db import Base, BigIntPK


class AuditRecord(Base):
    __tablename__ = "audit_records"
    __table_args__ = (UniqueConstraint("chain", "seq"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # Several independent chains (customer id modulo their number) so that concurrent
    # customers do not queue on one head row; chain 0 also takes events without a customer.
    chain: Mapped[int] = mapped_column(Integer, default=0)
    # Position in its chain: 1, 2, 3 … without gaps; a deletion shows as a gap.
    seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event: Mapped[str] = mapped_column(String(48), index=True)
    outcome: Mapped[str] = mapped_column(String(16))  # success | failure | refused
    customer_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    actor: Mapped[str] = mapped_column(String(80))  # user public id, staff id or "system"
    ip: Mapped[str] = mapped_column(String(64), default="")
    device_id: Mapped[str] = mapped_column(String(80), default="")
    client: Mapped[str] = mapped_column(String(300), default="")  # type, OS, user agent
    details: Mapped[str] = mapped_column(Text, default="{}")  # canonical JSON, no secrets
    prev_hash: Mapped[str] = mapped_column(String(64))
    # HMAC-SM3 under the keyring's audit key `mac_key` (security.audit); NULL only for a
    # record that could not be keyed when the chains were (its chain was already broken).
    hash: Mapped[str] = mapped_column(String(64))
    mac_key: Mapped[str | None] = mapped_column(String(16), nullable=True)


class AuditHead(Base):
    """One row per chain (id = chain number): its last seq and hash. Locking it orders
    concurrent appends to that chain."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
