"""Standing transfer instructions and their runs.

An instruction is confirmed once (transaction password + a code bound to its digest) and
then executed by the worker, one run per due date. A run row exists once per (instruction,
sequence number): it is claimed under a row lock and its outcome commits in the same
transaction as the transfer it made, so no run pays twice.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from wangyin.db import Base, BigIntPK

# Instruction states.
PENDING = "pending"  # given, not yet confirmed with the second factor
ACTIVE = "active"
PAUSED = "paused"
CANCELLED = "cancelled"
REPLACED = "replaced"  # an edit was confirmed: the new instruction carries on
FINISHED = "finished"  # its last run is made (end date or count reached)

# Run states.
DUE = "due"
RETRYING = "retrying"  # insufficient funds: tried again later the same bank day
RUN_COMPLETED = "completed"
RUN_FAILED = "failed"
RUN_SKIPPED = "skipped"  # the instruction was paused or cancelled before the run


class ScheduledTransfer(Base):
    __tablename__ = "scheduled_transfers"
    __table_args__ = (
        # What the worker looks for: active instructions whose next run is due.
        Index("ix_scheduled_transfers_due", "status", "next_run_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    from_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    # The payee is one of our accounts (intra-bank): kept by reference, never its number.
    to_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    payee_name: Mapped[str] = mapped_column(String(50))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    remark: Mapped[str] = mapped_column(String(50), default="")
    frequency: Mapped[str] = mapped_column(String(8))  # once | weekly | monthly
    # The first run (once: the only one), a UTC moment; its bank-time time of day is every
    # run's time of day.
    start_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    day: Mapped[int] = mapped_column(Integer, default=0)  # weekly 1-7 (Mon=1), monthly 1-31
    end_date: Mapped[date | None] = mapped_column(Date)  # last bank day a run may fall on
    max_runs: Mapped[int | None] = mapped_column(Integer)
    runs_made: Mapped[int] = mapped_column(Integer, default=0)  # runs created so far
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(12), default=PENDING)
    # SHA-256 of what the customer confirmed (payee, amount, currency, schedule): the code
    # of the confirmation is bound to exactly this.
    key_digest: Mapped[str] = mapped_column(String(64))
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("scheduled_transfers.id"))
    language: Mapped[str] = mapped_column(String(5), default="zh")  # of the result texts
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ScheduledRun(Base):
    __tablename__ = "scheduled_runs"
    __table_args__ = (
        UniqueConstraint("schedule_id", "seq"),
        Index("ix_scheduled_runs_claim", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("scheduled_transfers.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(12), default=DUE)
    reason: Mapped[str] = mapped_column(String(40), default="")  # the refusal's error code
    transfer_public_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
