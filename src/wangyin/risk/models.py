"""Risk control (issue 7 §3, §5): the blacklist and the cases risk officers work on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
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
    # What staff may see of the listed number (security.masking), or the CIDR.
    masked: Mapped[str] = mapped_column(String(50), default="", server_default="")


class RiskCase(Base):
    """A case opened by a blacklist hit, a high-risk sign-up, a customer's complaint or a
    fraud hold (the fraud domain's), worked by a risk officer."""

    __tablename__ = "risk_cases"
    __table_args__ = (Index("ix_risk_cases_status_priority", "status", "priority"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # The customer's reference of their complaint (every new case has one).
    public_id: Mapped[str | None] = mapped_column(String(36), unique=True, index=True)
    kind: Mapped[str] = mapped_column(String(32))  # service.CASE_KINDS
    # Another domain's reference: a fraud hold's (/admin/fraud/holds/{reference}).
    reference: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(100))  # a complaint's
    body: Mapped[str | None] = mapped_column(Text)  # a complaint's text
    transfer_id: Mapped[str | None] = mapped_column(String(36))  # the customer's transfer
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


class CaseMessage(Base):
    """What the customer wrote on a case and what the bank answered them (shown on the
    customer's complaint page; the bank's also by SMS)."""

    __tablename__ = "risk_case_messages"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("risk_cases.id"), index=True)
    sender: Mapped[str] = mapped_column(String(16))  # customer | bank
    staff_id: Mapped[str | None] = mapped_column(String(36))  # the officer's public id
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Declaration(Base):
    """What the applicant declared at sign-up for the AML level: occupation and intended
    use of online banking (aml.OCCUPATIONS, aml.PRODUCT_USES)."""

    __tablename__ = "risk_declarations"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    occupation: Mapped[str] = mapped_column(String(32))
    product_use: Mapped[str] = mapped_column(String(32))
    declared_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
