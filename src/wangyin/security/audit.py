"""The audit trail: append-only records chained by SM3 hashes.

Each record's hash covers its own fields and the previous record's hash, so editing,
deleting or reordering any record breaks the chain from that point on, and
`wangyin verify` says where. Appends lock the one `audit_head` row, which orders
concurrent writers; it is taken last in a transaction so the lock is held briefly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wangyin.clock import as_utc
from wangyin.security.crypto import sm3
from wangyin.security.models import AuditHead, AuditRecord

GENESIS = "0" * 64

# Keys that must never be written into an audit record, whatever a caller passes.
_FORBIDDEN = {"password", "pin", "code", "otp", "token", "secret", "id_number", "card_number"}


@dataclass(frozen=True)
class Client:
    """Where an operation came from (4.3.2-a)."""

    ip: str = ""
    device_id: str = ""
    client_type: str = ""
    os_version: str = ""
    user_agent: str = ""

    def describe(self) -> str:
        return " | ".join([self.client_type, self.os_version, self.user_agent])[:300]


def _canonical(record: AuditRecord) -> bytes:
    fields = [
        str(record.seq),
        as_utc(record.at).isoformat(),
        record.event,
        record.outcome,
        "" if record.customer_id is None else str(record.customer_id),
        record.actor,
        record.ip,
        record.device_id,
        record.client,
        record.details,
        record.prev_hash,
    ]
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()


def record_hash(record: AuditRecord) -> str:
    return sm3(_canonical(record)).hex()


def append(
    session: Session,
    *,
    event: str,
    outcome: str,
    actor: str,
    at: datetime,
    client: Client | None = None,
    customer_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditRecord:
    clean = {k: v for k, v in (details or {}).items() if k.lower() not in _FORBIDDEN}
    client = client or Client()
    head = session.scalars(
        select(AuditHead).with_for_update().execution_options(populate_existing=True)
    ).first()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
        session.flush()
    record = AuditRecord(
        seq=head.seq + 1,
        at=at.replace(microsecond=0),
        event=event,
        outcome=outcome,
        customer_id=customer_id,
        actor=actor,
        ip=client.ip[:64],
        device_id=client.device_id[:80],
        client=client.describe(),
        details=json.dumps(clean, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
        prev_hash=head.hash,
        hash="",
    )
    record.hash = record_hash(record)
    head.seq = record.seq
    head.hash = record.hash
    session.add(record)
    session.flush()
    return record


def verify_chain(session: Session) -> list[str]:
    """Every problem in the chain, in order; an empty list means intact."""
    problems: list[str] = []
    expected_prev = GENESIS
    expected_seq = 1
    last_seq = 0
    rows = session.scalars(select(AuditRecord).order_by(AuditRecord.seq)).yield_per(1000)
    for record in rows:
        if record.seq != expected_seq:
            problems.append(f"audit record {expected_seq} is missing (next is {record.seq})")
        if record.prev_hash != expected_prev:
            problems.append(f"audit record {record.seq} does not follow its predecessor")
        if record_hash(record) != record.hash:
            problems.append(f"audit record {record.seq} was altered")
        expected_prev = record.hash
        expected_seq = record.seq + 1
        last_seq = record.seq
    head = session.scalars(select(AuditHead)).first()
    if head is not None and (head.seq != last_seq or head.hash != expected_prev):
        problems.append("audit chain head does not match the last record (records removed)")
    return problems


def customer_log(session: Session, *, customer_id: int, limit: int = 100) -> list[AuditRecord]:
    """A customer's own operation log (5.1.2-h), newest first."""
    return list(
        session.scalars(
            select(AuditRecord)
            .where(AuditRecord.customer_id == customer_id)
            .order_by(AuditRecord.seq.desc())
            .limit(limit)
        )
    )
