"""Customer accounts and the debit cards that reach them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, validates

from wangyin.db import Base, BigIntPK
from wangyin.security.fields import EncryptedString, lookup_hash


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    account_number: Mapped[str] = mapped_column(String(19), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    ledger_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # current | savings
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | frozen | closed
    nickname: Mapped[str] = mapped_column(String(50), default="")
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Personal account class (银发〔2018〕16号): I full-function; II and III limited in what
    # they send to and receive from accounts other than their bound class-I account
    # (`bound_account_id`). Their counters (CNY minor units, bank day and bank year) are
    # written by confirm only, under the lock of the account's ledger row (rule 9).
    account_class: Mapped[str] = mapped_column(String(3), default="I")
    bound_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    class_day: Mapped[str] = mapped_column(String(10), default="")
    class_day_in_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    class_day_out_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    class_year: Mapped[int] = mapped_column(Integer, default=0)
    class_year_in_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    class_year_out_minor: Mapped[int] = mapped_column(BigInteger, default=0)


class Card(Base):
    """A debit card issued at the counter; its number reaches one account."""

    __tablename__ = "cards"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    number: Mapped[str] = mapped_column(EncryptedString("card_number"))
    number_hash: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    @validates("number")
    def _hash_number(self, _key: str, value: str) -> str:
        self.number_hash = lookup_hash(value)
        return value
