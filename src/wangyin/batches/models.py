"""A batch and its lines. The batch is confirmed once, with a code bound to its count,
total and the digest of every line; each line is then one transfer, executed once: the
line is claimed under a row lock and its result commits with the transfer it made."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wangyin.db import Base, BigIntPK

# Batch states.
DRAFT = "draft"  # uploaded, previewed; not confirmed
EXECUTING = "executing"  # confirmed: its lines are being executed
DONE = "done"  # every line has its result
CANCELLED = "cancelled"

# Line states.
LINE_INVALID = "invalid"  # refused by validation at upload (the batch cannot be confirmed)
LINE_READY = "ready"
LINE_COMPLETED = "completed"
LINE_FAILED = "failed"


class Batch(Base):
    __tablename__ = "batches"
    __table_args__ = (Index("ix_batches_status", "status"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    from_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    currency: Mapped[str] = mapped_column(String(3))
    filename: Mapped[str] = mapped_column(String(100), default="")
    line_count: Mapped[int] = mapped_column(Integer)
    invalid_count: Mapped[int] = mapped_column(Integer, default=0)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    # SHA-256 of (batch, account, count, total, the digest of every line): the one code.
    key_digest: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default=DRAFT)
    completed_count: Mapped[int] = mapped_column(Integer, default=0)
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    completed_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    language: Mapped[str] = mapped_column(String(5), default="zh")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BatchLine(Base):
    __tablename__ = "batch_lines"
    __table_args__ = (
        UniqueConstraint("batch_id", "seq"),
        Index("ix_batch_lines_claim", "batch_id", "status", "seq"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"))
    seq: Mapped[int] = mapped_column(Integer)  # the line's number in the file (1-based)
    to_account_number: Mapped[str] = mapped_column(String(40))
    payee_name: Mapped[str] = mapped_column(String(60))
    amount: Mapped[str] = mapped_column(String(40))  # as typed, shown back with its error
    amount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    remark: Mapped[str] = mapped_column(String(60), default="")
    status: Mapped[str] = mapped_column(String(12), default=LINE_READY)
    reason: Mapped[str] = mapped_column(String(40), default="")  # an error code
    transfer_public_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    executed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
