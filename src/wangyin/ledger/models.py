"""Double-entry ledger tables.

Sign convention: a posting's `amount_minor` is signed and every journal entry's postings
sum to zero per currency. An account's balance is the sum of its postings, so a customer
deposit account holds a positive balance (what the bank owes the customer) and the
bank's own cash account runs negative by the same amount. `balance_minor` and
`held_minor` are derived state kept in step by `ledger.service` only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from wangyin.db import Base, BigIntPK


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # "customer" | "internal"
    currency: Mapped[str] = mapped_column(String(3))
    balance_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    held_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Bank accounts such as cash and clearing run negative by design; customer accounts never.
    allow_negative: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    @property
    def available_minor(self) -> int:
        return self.balance_minor - self.held_minor


class JournalEntry(Base):
    __tablename__ = "journal_entries"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(String(200), default="")
    # The business key that makes this entry happen at most once, with the digest of the
    # request that created it: a replay finds it, a different request under it is refused.
    idempotency_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    request_digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Posting(Base):
    __tablename__ = "postings"
    __table_args__ = (Index("ix_postings_account_id_desc", "ledger_account_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    ledger_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    balance_after_minor: Mapped[int] = mapped_column(BigInteger)
    # What the holder of this account sees on the statement line.
    memo: Mapped[str] = mapped_column(String(200), default="")
    counterparty_name: Mapped[str] = mapped_column(String(100), default="")
    counterparty_account: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Hold(Base):
    """Funds set aside: they stay in the balance but leave the available balance."""

    __tablename__ = "holds"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    ledger_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | released
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
