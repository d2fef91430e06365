"""Bookkeeping of the audit copy and of log retention (issue 8 §5, 4.1.6-c)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from wangyin.db import Base


class AuditShipCursor(Base):
    """Per audit chain: the last record (seq) the audit copy is known to hold. The audit
    records themselves are the outbox: written in the action's transaction, shipped after
    commit by the worker, in chain order (appends to a chain are serialized by its head
    lock, so a chain never commits seq n+1 before n)."""

    __tablename__ = "audit_ship_cursor"

    chain: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditPruned(Base):
    """Per audit chain: where the retained part of the chain starts. Records up to `seq`
    were deleted by the retention job; `hash` is the last deleted record's hash, which the
    first kept record names as its predecessor, so the rest still verifies link by link.
    `mac` (HMAC-SM3 under the audit key `mac_key`) makes the marker unforgeable without the
    keyring: deleting records and writing a marker by hand fails `wangyin verify`."""

    __tablename__ = "audit_pruned"

    chain: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    pruned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    mac_key: Mapped[str] = mapped_column(String(16))
    mac: Mapped[str] = mapped_column(String(64))
