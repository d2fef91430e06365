"""Risk control (issue 7 §3, §5): the blacklist and the cases risk officers work on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wangyin.db import Base, BigIntPK


class BlacklistEntry(Base):
    """One listed person, card, mobile, device or IP range. Numbers are kept only as keyed
    look-up hashes (security.fields.lookup_hash); an IP range as CIDR text."""

    __tablename__ = "risk_blacklist"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # service.KINDS
    value_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    cidr: Mapped[str | None] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(String(300))
    created_by: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expired_reason: Mapped[str | None] = mapped_column(String(300))


class RiskCase(Base):
    """A case opened by a blacklist hit or a high-risk sign-up, worked by a risk officer."""

    __tablename__ = "risk_cases"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # blacklist_hit | high_risk_signup
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    priority: Mapped[int] = mapped_column(Integer)  # 1 = most urgent
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|assigned|closed
    assignee: Mapped[str | None] = mapped_column(String(36))  # staff public_id
    outcome: Mapped[str | None] = mapped_column(String(300))
    notes: Mapped[str] = mapped_column(Text, default="")
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RiskAssessment(Base):
    """The AML risk level computed at sign-up, with the factors that produced it; a high
    one waits for a supervisor's decision before online banking opens (docs/risk.md)."""

    __tablename__ = "risk_assessments"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    level: Mapped[str] = mapped_column(String(8))  # low | medium | high
    factors: Mapped[str] = mapped_column(Text)  # JSON: factor -> points
    review: Mapped[str] = mapped_column(String(16))  # none | pending | approved | rejected
    decided_by: Mapped[str | None] = mapped_column(String(36))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    assessed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
