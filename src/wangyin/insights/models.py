"""A customer's own categories, which win over the rule table (categories.py): one
statement line at a time, or always for one counterparty (its name and account number as
the statement line carries them). Both belong to one customer and are read only with
that customer's id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wangyin.db import Base, BigIntPK


class EntryCategory(Base):
    """This statement line (a posting on one of the customer's accounts) is in `category`."""

    __tablename__ = "insight_entry_categories"
    __table_args__ = (UniqueConstraint("customer_id", "posting_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    posting_id: Mapped[int] = mapped_column(ForeignKey("postings.id"), index=True)
    category: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CounterpartyCategory(Base):
    """Every line of this customer with this counterparty is in `category` (unless the
    line itself was corrected)."""

    __tablename__ = "insight_counterparty_categories"
    __table_args__ = (
        UniqueConstraint(
            "customer_id",
            "counterparty_name",
            "counterparty_account",
            name="uq_insight_counterparty_categories_customer_counterparty",
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", name="fk_insight_counterparty_categories_customer_id")
    )
    counterparty_name: Mapped[str] = mapped_column(String(100))
    counterparty_account: Mapped[str] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
