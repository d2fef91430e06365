"""Real-time anti-fraud (issue 7 §4): counters kept per account, held transfers, the
versioned rule sets, the per-customer anomaly models and the decisions' record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wangyin.db import Base, BigIntPK

HELD = "HELD"  # the transfer request's status while it waits for a risk officer
REFUSED = "REFUSED"  # ... and after the officer refused it (nothing moved)


class FraudCounters(Base):
    """What the rules count, per payment account, so a transfer never scans history.

    Written only by transfers that hold the account's ledger row lock (payments.confirm),
    so a plain read after those locks sees it current (ARCHITECTURE rule 9)."""

    __tablename__ = "fraud_counters"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    # Outflow velocity: this hour (window start) and this bank day.
    out_hour_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    out_hour_count: Mapped[int] = mapped_column(Integer, default=0)
    out_day: Mapped[str] = mapped_column(String(10), default="")
    out_day_count: Mapped[int] = mapped_column(Integer, default=0)
    out_day_sum: Mapped[int] = mapped_column(BigInteger, default=0)
    out_day_near: Mapped[int] = mapped_column(Integer, default=0)  # just under a threshold
    # Inflow: the distinct payers of this bank day (mule pattern), the last large inflow.
    in_day: Mapped[str] = mapped_column(String(10), default="")
    in_payers: Mapped[str] = mapped_column(Text, default="")  # comma-separated account ids
    last_inflow_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    last_inflow_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The accounts this one has paid (most recent last), for the new-payee rule.
    payees: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class FraudHold(Base):
    """A transfer the engine held: it waits, not posted, for a risk officer's decision.
    HELD -> RELEASED (posted through the ledger once) | REFUSED (nothing moves)."""

    __tablename__ = "fraud_holds"
    __table_args__ = (Index("ix_fraud_holds_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    transfer_id: Mapped[str] = mapped_column(String(36), unique=True)  # transfer public id
    transfer_row: Mapped[int] = mapped_column(ForeignKey("transfer_requests.id"), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=HELD)
    hits: Mapped[str] = mapped_column(String(300), default="")  # comma-separated rule names
    points: Mapped[int] = mapped_column(Integer, default=0)
    score: Mapped[int | None] = mapped_column(Integer)  # anomaly score 0-100, if any
    rules_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(36))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(300), default="")


class FraudRuleSet(Base):
    """One version of the rules' thresholds and switches (JSON). Version 0 is the code's
    defaults; a new version comes from a back-office command approved by a checker."""

    __tablename__ = "fraud_rule_sets"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    params: Mapped[str] = mapped_column(Text)  # canonical JSON: rule -> {enabled, ...}
    active: Mapped[bool] = mapped_column(default=False, index=True)
    approved_by: Mapped[str] = mapped_column(String(60), default="")  # staff:<public id>
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FraudModel(Base):
    """A customer's IsolationForest, exported as plain arrays (JSON, never a pickle)."""

    __tablename__ = "fraud_models"
    __table_args__ = (Index("ix_fraud_models_customer", "customer_id", "version"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    version: Mapped[int] = mapped_column(Integer)
    trees: Mapped[str] = mapped_column(Text)  # JSON, see fraud.model.export
    samples: Mapped[int] = mapped_column(Integer)
    trained_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FraudEvent(Base):
    """A decision that hit a rule or carried a score: the statistics risk officers see."""

    __tablename__ = "fraud_events"
    __table_args__ = (Index("ix_fraud_events_at", "at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # transfer | login
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    decision: Mapped[str] = mapped_column(String(16))  # allow | step_up | hold | block
    hits: Mapped[str] = mapped_column(String(300), default="")
    score: Mapped[int | None] = mapped_column(Integer)
    rules_version: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FraudIpCounter(Base):
    """Logins per IP (keyed hash) in a 10-minute window: credential stuffing."""

    __tablename__ = "fraud_ip_counters"

    ip_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    users: Mapped[str] = mapped_column(Text, default="")  # comma-separated user ids
