"""Saved payees. The payee's number (an account or a card number, as the customer typed or
paid it) is personal data of a third party: encrypted, bound to the row, looked up by its
keyed hash; only its last four digits are kept in clear, for searching."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, validates

from wangyin.db import Base, BigIntPK
from wangyin.security.fields import EncryptedString, lookup_hash


class Payee(Base):
    __tablename__ = "payees"
    __table_args__ = (UniqueConstraint("customer_id", "number_hash"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    number: Mapped[str] = mapped_column(EncryptedString("payee_number"))
    number_hash: Mapped[str] = mapped_column(String(64))
    number_tail: Mapped[str] = mapped_column(String(4))
    # The payee's account at this bank when the number names one (None: not ours, or not
    # found): what "recent payees first" and the per-payee limit are read through.
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    initials: Mapped[str] = mapped_column(String(50), default="")  # pinyin, e.g. "zw" for 张伟
    nickname: Mapped[str] = mapped_column(String(50), default="")
    # A ceiling per transfer to this payee, in CNY minor units (None: the customer's limits only).
    limit_minor: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(16), default="manual")  # manual | transfer
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    @validates("number")
    def _hash_number(self, _key: str, value: str) -> str:
        self.number_hash = lookup_hash(value)
        self.number_tail = value[-4:]
        return value
