"""The audit trail: append-only records chained by SM3 hashes.

Each record's hash covers its own fields and the previous record's hash, so editing,
deleting or reordering any record breaks the chain from that point on, and
`wangyin verify` says where. There are CHAINS independent chains: a customer's records
go to chain (customer id mod CHAINS), so each customer's history is one ordered chain and
unrelated customers do not queue on one head row. Appends lock their chain's
`audit_head` row, taken last in a transaction so the lock is held briefly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from wangyin.clock import as_utc
from wangyin.db import defer_write, table_of
from wangyin.security.crypto import sm3
from wangyin.security.models import AuditHead, AuditRecord

GENESIS = "0" * 64
CHAINS = 16

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
    # Chain 0 records hash exactly as before chains existed; others also cover their chain.
    prefix = [f"chain:{record.chain}"] if record.chain else []
    fields = [
        *prefix,
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


_HEADS = table_of(AuditHead)
_RECORDS = table_of(AuditRecord)


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
    """Append one record to its chain: lock the chain's head once per transaction, then
    the record and the head's move join the transaction's trailing writes
    (`db.defer_write`). Returns the record as written (not attached to the session)."""
    clean = {k: v for k, v in (details or {}).items() if k.lower() not in _FORBIDDEN}
    client = client or Client()
    chain = customer_id % CHAINS if customer_id is not None else 0
    head_id = _head_id(chain)
    # This transaction's own view of the heads it holds: a second append to the same chain
    # continues from the first (whose writes may still be deferred) without a new read.
    held: dict[int, tuple[int, str]] = session.info.setdefault(_HELD_HEADS, {})
    if head_id in held:
        seq, prev_hash = held[head_id]
    else:
        # Taken after the transaction's queued writes ran (the session flushes them before
        # a statement): their foreign-key checks may wait for other transactions' row
        # locks, and must not wait while this transaction holds a chain's head.
        head = session.execute(_LOCK_HEAD, {"head_id": head_id}).first()
        if head is None:
            # Two first appends racing here: one insert loses on the key and its unit of
            # work is retried, finding the winner's head.
            session.execute(insert(_HEADS).values(id=head_id, seq=0, hash=GENESIS))
            seq, prev_hash = 0, GENESIS
        else:
            seq, prev_hash = int(head.seq), str(head.hash)
    record = AuditRecord(
        chain=chain,
        seq=seq + 1,
        at=at.replace(microsecond=0),
        event=event,
        outcome=outcome,
        customer_id=customer_id,
        actor=actor,
        ip=client.ip[:64],
        device_id=client.device_id[:80],
        client=client.describe(),
        details=json.dumps(clean, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
        prev_hash=prev_hash,
        hash="",
    )
    record.hash = record_hash(record)
    defer_write(
        session,
        _INSERT_RECORD,
        {
            "chain": record.chain,
            "seq": record.seq,
            "at": record.at,
            "event": record.event,
            "outcome": record.outcome,
            "customer_id": record.customer_id,
            "actor": record.actor,
            "ip": record.ip,
            "device_id": record.device_id,
            "client": record.client,
            "details": record.details,
            "prev_hash": record.prev_hash,
            "hash": record.hash,
        },
    )
    defer_write(
        session, _MOVE_HEAD, {"head_row": head_id, "seq": record.seq, "hash": record.hash}
    )
    held[head_id] = (record.seq, record.hash)
    return record


_HELD_HEADS = "wangyin.audit_heads_held"
_LOCK_HEAD = (
    select(_HEADS.c.seq, _HEADS.c.hash).where(_HEADS.c.id == bindparam("head_id")).with_for_update()
)
_INSERT_RECORD = insert(_RECORDS)
_MOVE_HEAD = update(_HEADS).where(_HEADS.c.id == bindparam("head_row"))


def head_id_of(customer_id: Any) -> Any:
    """The head row of a customer's chain; works on an int or an SQL expression."""
    return customer_id % CHAINS + 1


def lock_head_query(customer_id: Any) -> Any:
    """Lock a chain's head, for a use case that reads it together with its other rows
    (`db.read_together`); pass the rows to `hold_head`. `customer_id` may be an SQL
    expression (a scalar subquery), so the head is locked in the same round trip as the
    look-up that finds the customer."""
    return (
        select(_HEADS.c.id, _HEADS.c.seq, _HEADS.c.hash)
        .where(_HEADS.c.id == head_id_of(customer_id))
        .with_for_update()
    )


def hold_head(session: Session, rows: list[Any]) -> None:
    """Record a head this transaction has locked (see `lock_head_query`): the next
    `append` to that chain continues from it without reading it again."""
    held: dict[int, tuple[int, str]] = session.info.setdefault(_HELD_HEADS, {})
    for row in rows:
        held.setdefault(int(row.id), (int(row.seq), str(row.hash)))


def _head_id(chain: int) -> int:
    # Head ids start at 1 (chain 0 is head 1, as when there was one chain).
    return chain + 1


def verify_chain(session: Session) -> list[str]:
    """Every problem in every chain, in order; an empty list means intact."""
    problems: list[str] = []
    last: dict[int, tuple[int, str]] = {}  # chain -> (last seq, last hash)
    rows = session.scalars(
        select(AuditRecord).order_by(AuditRecord.chain, AuditRecord.seq)
    ).yield_per(1000)
    for record in rows:
        seq, prev = last.get(record.chain, (0, GENESIS))
        where = f" (chain {record.chain})" if record.chain else ""
        if record.seq != seq + 1:
            problems.append(f"audit record {seq + 1} is missing (next is {record.seq}){where}")
        if record.prev_hash != prev:
            problems.append(f"audit record {record.seq} does not follow its predecessor{where}")
        if record_hash(record) != record.hash:
            problems.append(f"audit record {record.seq} was altered{where}")
        last[record.chain] = (record.seq, record.hash)
    for head in session.scalars(select(AuditHead)):
        chain = head.id - 1
        seq, prev = last.get(chain, (0, GENESIS))
        if head.seq != seq or head.hash != prev:
            problems.append(
                "audit chain head does not match the last record (records removed)"
                + (f" (chain {chain})" if chain else "")
            )
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
