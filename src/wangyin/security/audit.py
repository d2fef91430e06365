"""The audit trail: append-only records chained by keyed hashes (HMAC-SM3).

Each record's hash is an HMAC-SM3, under an audit key of the keyring (outside the
database), of all its stored fields and the previous record's hash, so editing, deleting
or reordering any record breaks the chain from that point on, and `wangyin verify` says
where; without the key nobody can compute a hash that verifies, so an edited record
cannot be re-chained either. The key's id is stored with each record (`mac_key`), so
records keep verifying after `wangyin keys rotate` moves on to a new audit key.

There are CHAINS independent chains: a customer's records go to chain (customer id mod
CHAINS), so each customer's history is one ordered chain and unrelated customers do not
queue on one head row. Appends lock their chain's `audit_head` row, taken last in a
transaction so the lock is held briefly.

Deleting the newest records and moving a head back leaves a shorter chain whose every
hash is genuine: only something outside the database can tell. `write_checkpoint` records
each chain's head (seq, hash) in a file signed with the audit key (`wangyin verify` writes
it when all is well, to `WANGYIN_AUDIT_CHECKPOINT`), and `check_checkpoint` finds every
checkpointed record still in place, unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from wangyin.clock import as_utc
from wangyin.db import defer_write, table_of
from wangyin.security.crypto import constant_time_equal, keyed_hash
from wangyin.security.keys import Keyring, KeyringError, load_keyring
from wangyin.security.models import AuditHead, AuditRecord

GENESIS = "0" * 64
CHAINS = 16
CANONICAL_VERSION = "wangyin audit v2"
CHECKPOINT_FORMAT = "wangyin audit checkpoint v1"
CHECKPOINT_ENV = "WANGYIN_AUDIT_CHECKPOINT"

# session.info key: the (event, outcome, actor, details) this transaction appended.
AUDITED_KEY = "wangyin.audited"

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
    # The caller's language: what the bank texts back (a code's SMS) is in it (issue 9).
    language: str = "zh"

    def describe(self) -> str:
        return " | ".join([self.client_type, self.os_version, self.user_agent])[:300]


class RecordFields(Protocol):
    """What a record's hash covers: a stored `AuditRecord` or a `WrittenRecord`."""

    @property
    def mac_key(self) -> str | None: ...
    @property
    def chain(self) -> int: ...
    @property
    def seq(self) -> int: ...
    @property
    def at(self) -> datetime: ...
    @property
    def event(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def customer_id(self) -> int | None: ...
    @property
    def actor(self) -> str: ...
    @property
    def ip(self) -> str: ...
    @property
    def device_id(self) -> str: ...
    @property
    def client(self) -> str: ...
    @property
    def details(self) -> str: ...
    @property
    def prev_hash(self) -> str: ...


@dataclass(slots=True)
class WrittenRecord:
    """A record as `append` queued it: plain fields, not an ORM object (the hot path
    appends two per transfer; ORM instrumentation of a throwaway object costs more than
    the hash)."""

    chain: int
    seq: int
    at: datetime
    event: str
    outcome: str
    customer_id: int | None
    actor: str
    ip: str
    device_id: str
    client: str
    details: str
    prev_hash: str
    mac_key: str
    hash: str = ""


def _canonical(record: RecordFields) -> bytes:
    """Every stored field of the record except its own hash, in a fixed order; the key id
    too, so a record cannot be passed off as keyed under another version."""
    fields = [
        CANONICAL_VERSION,
        record.mac_key or "",
        str(record.chain),
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


def record_hash(record: RecordFields, ring: Keyring | None = None) -> str:
    """HMAC-SM3 of the record under its audit key (`record.mac_key`, else the active one)."""
    ring = ring or load_keyring()
    key = ring.audit.key(record.mac_key or ring.audit.active)
    return keyed_hash(key, _canonical(record), algorithm="SM3")


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
) -> WrittenRecord:
    """Append one record to its chain: lock the chain's head once per transaction, then
    the record and the head's move join the transaction's trailing writes
    (`db.defer_write`). Returns the record as written (not attached to the session)."""
    ring = load_keyring()
    clean = {k: v for k, v in (details or {}).items() if k.lower() not in _FORBIDDEN}
    # Counted in the metrics once the transaction commits (observability.metrics).
    session.info.setdefault(AUDITED_KEY, []).append((event, outcome, actor, clean))
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
    record = WrittenRecord(
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
        mac_key=ring.audit.active,
    )
    record.hash = record_hash(record, ring)
    defer_write(session, _INSERT_RECORD, {name: getattr(record, name) for name in _COLUMNS})
    defer_write(session, _MOVE_HEAD, {"head_row": head_id, "seq": record.seq, "hash": record.hash})
    held[head_id] = (record.seq, record.hash)
    return record


_HELD_HEADS = "wangyin.audit_heads_held"
_COLUMNS = tuple(field.name for field in dataclasses.fields(WrittenRecord))
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
    """Every problem in every chain, in order; an empty list means intact. A chain cut by
    retention starts after its keyed marker (`pruned_starts`)."""
    ring = load_keyring()
    starts, problems = pruned_starts(session, ring)
    last: dict[int, tuple[int, str]] = dict(starts)  # chain -> (last seq, last hash)
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
        if not record.mac_key:
            problems.append(f"audit record {record.seq} is not keyed{where}")
        elif record.mac_key not in ring.audit.keys:
            problems.append(
                f"audit record {record.seq} is keyed with {record.mac_key!r}, which is not "
                f"in the keyring{where}"
            )
        elif not constant_time_equal(record_hash(record, ring), record.hash):
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


# --- retention: a chain whose oldest records were deleted -------------------------------


def pruned_marker_mac(ring: Keyring, key_id: str, chain: int, seq: int, last_hash: str) -> str:
    """The keyed hash that makes a retention marker genuine (observability.models)."""
    text = json.dumps(["wangyin audit pruned v1", key_id, chain, seq, last_hash])
    return keyed_hash(ring.audit.key(key_id), text.encode(), algorithm="SM3")


def pruned_starts(
    session: Session, ring: Keyring | None = None
) -> tuple[dict[int, tuple[int, str]], list[str]]:
    """chain -> (seq, hash) of the last record retention deleted, from the markers that
    verify; and a problem for each marker that does not (it is then ignored, so the
    chain is checked from its genesis and the deletion shows as missing records)."""
    from wangyin.observability.models import AuditPruned  # the marker's table

    ring = ring or load_keyring()
    starts: dict[int, tuple[int, str]] = {}
    problems: list[str] = []
    for marker in session.scalars(select(AuditPruned).order_by(AuditPruned.chain)):
        try:
            expected = pruned_marker_mac(
                ring, marker.mac_key, marker.chain, marker.seq, marker.hash
            )
            genuine = constant_time_equal(expected, marker.mac)
        except KeyringError:
            genuine = False
        if genuine:
            starts[marker.chain] = (int(marker.seq), marker.hash)
        else:
            problems.append(
                f"audit chain {marker.chain}: its retention marker is not genuine (records "
                "deleted and a marker written without the audit key)"
            )
    return starts, problems


# --- the checkpoint: each chain's head, outside the database -----------------------------


def checkpoint_path() -> Path | None:
    """Where `wangyin verify` anchors the heads (WANGYIN_AUDIT_CHECKPOINT), if anywhere."""
    configured = os.environ.get(CHECKPOINT_ENV, "").strip()
    return Path(configured) if configured else None


def chain_heads(session: Session) -> dict[int, tuple[int, str]]:
    """chain -> (seq, hash) of its head row."""
    return {
        int(row.id) - 1: (int(row.seq), str(row.hash))
        for row in session.execute(select(_HEADS.c.id, _HEADS.c.seq, _HEADS.c.hash))
    }


def _checkpoint_mac(ring: Keyring, key_id: str, body: dict[str, Any]) -> str:
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return keyed_hash(ring.audit.key(key_id), text.encode(), algorithm="SM3")


def write_checkpoint(
    path: Path, heads: dict[int, tuple[int, str]], *, at: datetime | None = None
) -> None:
    """Write (seq, hash) of every chain to `path`, signed (HMAC-SM3) with the active audit
    key: whole or not at all (a private temporary file renamed over the old one)."""
    ring = load_keyring()
    body: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "written_at": as_utc(at or datetime.now(UTC)).isoformat(),
        "key": ring.audit.active,
        "chains": {str(c): {"seq": seq, "hash": h} for c, (seq, h) in sorted(heads.items())},
    }
    signed = {**body, "mac": _checkpoint_mac(ring, ring.audit.active, body)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(signed, indent=2) + "\n")
    tmp.replace(path)


def check_checkpoint(session: Session, path: Path) -> list[str]:
    """Every problem between the checkpoint at `path` and the database: a bad signature,
    or a checkpointed record that is gone or differs. No file yet is no problem (the first
    `verify` writes it)."""
    if not path.exists():
        return []
    ring = load_keyring()
    try:
        signed = cast(dict[str, Any], json.loads(path.read_text()))
        mac = str(signed.pop("mac"))
        key_id = str(signed["key"])
        ok = signed.get("format") == CHECKPOINT_FORMAT and constant_time_equal(
            _checkpoint_mac(ring, key_id, signed), mac
        )
        chains = {
            int(c): (int(v["seq"]), str(v["hash"]))
            for c, v in cast(dict[str, Any], signed["chains"]).items()
        }
    except (ValueError, KeyError, TypeError, AttributeError, KeyringError):
        ok, chains = False, {}
    if not ok:
        return [
            f"the audit checkpoint {path} fails its signature check (edited, or signed with "
            "a key that is not in this keyring)"
        ]
    problems: list[str] = []
    written = signed.get("written_at", "?")
    pruned, _ = pruned_starts(session, ring)
    for chain, (seq, expected) in sorted(chains.items()):
        if seq == 0:
            continue
        if chain in pruned and seq <= pruned[chain][0]:
            continue  # deleted by retention, past the marker that verify checks
        stored = session.scalar(
            select(AuditRecord.hash).where(AuditRecord.chain == chain, AuditRecord.seq == seq)
        )
        if stored is None:
            problems.append(
                f"audit chain {chain}: record {seq} of the checkpoint of {written} is gone "
                "(records removed, or the database rolled back)"
            )
        elif not constant_time_equal(stored, expected):
            problems.append(
                f"audit chain {chain}: record {seq} differs from the checkpoint of {written}"
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
