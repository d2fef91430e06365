"""Inter-bank transfers (issue 6 §1), the bank directory (联行号) and the daily
reconciliation (对账) of the clearing network's statements against our records.

An inter-bank transfer moves CHALLENGE_PENDING -> WAITING (debited, to be sent) ->
SENDING (handed to the network, its answer not yet known) -> SENT -> NETTED -> SETTLED,
or ends REVOKED (by the customer before sending), REJECTED (by the network) or RETURNED
(退汇, after success). Every step where money moves is its own journal entry, keyed
`interbank:<id>:<step>` so it happens once (clearing.service.STEPS).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from wangyin.db import Base, BigIntPK

PENDING = "CHALLENGE_PENDING"
EXPIRED = "EXPIRED"
WAITING = "WAITING"
SENDING = "SENDING"
SENT = "SENT"
NETTED = "NETTED"
SETTLED = "SETTLED"
REVOKED = "REVOKED"
REJECTED = "REJECTED"
RETURNED = "RETURNED"
IN_FLIGHT = (WAITING, SENDING, SENT, NETTED)


class BankBranch(Base):
    """One participant of the clearing network: a bank's head office or branch."""

    __tablename__ = "bank_branches"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)  # bank 3 + city 4 + 4 + check
    bank_code: Mapped[str] = mapped_column(String(3), index=True)
    bank_name: Mapped[str] = mapped_column(String(60))
    branch_name: Mapped[str] = mapped_column(String(100))
    city: Mapped[str] = mapped_column(String(30))
    # Pinyin initials of bank, branch and city names, for the look-up ("zsyh" -> 招商银行).
    initials: Mapped[str] = mapped_column(String(120))
    head_office: Mapped[bool] = mapped_column(Boolean, default=False)


class InterbankTransfer(Base):
    __tablename__ = "interbank_transfers"
    __table_args__ = (
        Index("ix_interbank_status_due", "status", "send_after"),
        Index("ix_interbank_customer", "customer_id", "id"),
        # "Paid this payee before" (prepare's new-payee warning), from the matching rows.
        Index("ix_interbank_customer_payee", "customer_id", "payee_account", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    from_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    bank_code: Mapped[str] = mapped_column(String(12))
    bank_name: Mapped[str] = mapped_column(String(160))
    payee_account: Mapped[str] = mapped_column(String(34))
    payee_name: Mapped[str] = mapped_column(String(60))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    remark: Mapped[str] = mapped_column(String(100), default="")
    speed: Mapped[str] = mapped_column(String(12))  # realtime | normal | next_day
    system: Mapped[str] = mapped_column(String(4))  # HVPS | BEPS | IBPS
    status: Mapped[str] = mapped_column(String(24), default=PENDING)
    # Why it is where it is: the network's reason for a rejection or return, or why it waits.
    reason: Mapped[str] = mapped_column(String(40), default="")
    network_code: Mapped[str] = mapped_column(String(8), default="")  # PR04, PR09, ...
    key_digest: Mapped[str] = mapped_column(String(64))
    warnings: Mapped[str] = mapped_column(String(40), default="")
    confirmed_with: Mapped[str] = mapped_column(String(32), default="")
    shard: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    send_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ip: Mapped[str] = mapped_column(String(64), default="")
    device_id: Mapped[str] = mapped_column(String(80), default="")


class ReconciliationRun(Base):
    """One statement (a system's day) matched against our records."""

    __tablename__ = "reconciliation_runs"
    __table_args__ = (Index("ux_reconciliation_day_system", "day", "system", unique=True),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    day: Mapped[str] = mapped_column(String(10))
    system: Mapped[str] = mapped_column(String(4))
    statement: Mapped[str] = mapped_column(String(300))
    matched: Mapped[int] = mapped_column(Integer, default=0)
    mismatched: Mapped[int] = mapped_column(Integer, default=0)
    run_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReconciliationMismatch(Base):
    __tablename__ = "reconciliation_mismatches"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_runs.id"), index=True)
    # missing_ours | missing_theirs | amount | status
    kind: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(36))
    ours: Mapped[str] = mapped_column(String(60), default="")
    theirs: Mapped[str] = mapped_column(String(60), default="")
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)


class SimulatedItem(Base):
    """The CNAPS simulator's own book (gateways.clearing.simulator): what the network
    received, and what it did with it. Not ours: only the simulator writes it."""

    __tablename__ = "cnaps_sim_items"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    msg_id: Mapped[str] = mapped_column(String(36), unique=True)
    system: Mapped[str] = mapped_column(String(4))
    bank_code: Mapped[str] = mapped_column(String(12))
    account: Mapped[str] = mapped_column(String(34))
    payee_name: Mapped[str] = mapped_column(String(60))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(8))  # PR00 accepted, PR03, PR04, PR09, RT
    reason: Mapped[str] = mapped_column(String(40), default="")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    return_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SimulatedAccount(Base):
    """Accounts the simulated receiving banks know (name and state), for returns."""

    __tablename__ = "cnaps_sim_accounts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    bank_code: Mapped[str] = mapped_column(String(3))
    account: Mapped[str] = mapped_column(String(34), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(12), default="active")  # active | closed
