"""Reversals (冲正) of intra-bank transfers and refund requests (退汇申请) to the receiving
bank of inter-bank transfers, decided from a risk case under maker-checker (issue 7 §5).

A transfer stays COMPLETED (its own journal entry stands); its reversal is a second,
opposite journal entry recorded here, at most one per transfer (unique `transfer_id`).
A recall is our request to the receiving bank; the money comes back through the clearing
worker's RETURNED answer, like any return."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from wangyin.db import Base, BigIntPK

REQUESTED = "requested"  # approved, not yet answered by the receiving bank
AGREED = "agreed"  # the receiving bank returns the money (the worker books the RETURNED)
REFUSED = "refused"  # the receiving bank refused (answer_reason says why)


class TransferReversal(Base):
    __tablename__ = "transfer_reversals"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfer_requests.id"), unique=True)
    journal_entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    command_id: Mapped[str] = mapped_column(String(36))  # the approved command's public id
    case_id: Mapped[int | None] = mapped_column(BigIntPK, index=True)  # risk_cases.id
    reason: Mapped[str] = mapped_column(String(300))
    reversed_by: Mapped[str] = mapped_column(String(48))  # staff:<public id> of the checker
    reversed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class InterbankRecall(Base):
    __tablename__ = "interbank_recalls"
    __table_args__ = (Index("ix_interbank_recalls_status", "status"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    transfer_id: Mapped[int] = mapped_column(BigIntPK, index=True)  # interbank_transfers.id
    command_id: Mapped[str] = mapped_column(String(36))
    case_id: Mapped[int | None] = mapped_column(BigIntPK, index=True)  # risk_cases.id
    reason: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(12), default=REQUESTED)
    answer_reason: Mapped[str] = mapped_column(String(40), default="")
    requested_by: Mapped[str] = mapped_column(String(48))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
