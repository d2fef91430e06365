"""Transfer requests. A request is not a transaction: it moves
CHALLENGE_PENDING -> COMPLETED (or expires), and only COMPLETED ones have a journal entry."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from wangyin.db import Base, BigIntPK

PENDING = "CHALLENGE_PENDING"
COMPLETED = "COMPLETED"
EXPIRED = "EXPIRED"


class TransferRequest(Base):
    __tablename__ = "transfer_requests"
    __table_args__ = (
        Index("ix_transfer_requests_customer_status", "customer_id", "status"),
        # "Paid this payee before?" finds one row, however long the history (prepare).
        Index("ix_transfer_requests_customer_payee", "customer_id", "to_account_id", "status"),
        # Today's total for the daily limit reads one day's range, however long the history.
        Index(
            "ix_transfer_requests_daily",
            "customer_id",
            "currency",
            "status",
            "confirmed_at",
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    from_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    to_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    payee_name: Mapped[str] = mapped_column(String(100))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    remark: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(24), default=PENDING)
    # SHA-256 of the key data the customer confirms (from, to, payee, amount, currency,
    # time): the second factor of the next step is bound to exactly this digest.
    key_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    journal_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("journal_entries.id"), unique=True
    )
    # Where it came from (4.3.2-a) and how it was confirmed (4.3.2-b, 5.1.2-g).
    ip: Mapped[str] = mapped_column(String(64), default="")
    device_id: Mapped[str] = mapped_column(String(80), default="")
    client_type: Mapped[str] = mapped_column(String(16), default="")
    os_version: Mapped[str] = mapped_column(String(80), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    confirmed_with: Mapped[str] = mapped_column(String(32), default="")  # pin+otp | password_free
    # Warnings the customer must acknowledge before confirming, comma-separated:
    # large_amount (over the day's reminder threshold), new_payee (a large first payment).
    warnings: Mapped[str] = mapped_column(String(40), default="")
