"""A customer's home-page preferences (issue 9 §2): whether amounts are hidden (the eye)
and the pinned quick functions, one row per customer, written only when they choose."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from wangyin.db import Base


class HomePreference(Base):
    __tablename__ = "home_preferences"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    amounts_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    # Catalogue keys in the customer's order, comma-separated; None: the bank's defaults.
    quick_functions: Mapped[str | None] = mapped_column(String(400))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
