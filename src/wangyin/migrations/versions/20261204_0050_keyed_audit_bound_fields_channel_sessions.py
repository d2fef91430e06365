"""keyed audit chains, encrypted fields bound to their row, channels bound to a session

Revision ID: 20261204_0050
Revises: 20261204_0040
Create Date: 2026-12-04 21:00:00

Issue 11 #8, #9, #14:

- `audit_records.mac_key`: each record's hash becomes an HMAC-SM3 under the keyring's audit
  key (the key's id stored here). Existing records are checked against their old unkeyed
  SM3 chain first and re-keyed in order; a chain that was already broken is re-keyed only
  up to the break, so the records from there on stay unkeyed and `wangyin verify` keeps
  reporting them (re-keying them would launder the damage).
- encrypted columns of customers, cards, channels and keyboard layouts are re-encrypted to
  the bound format (`kid:2:…`, associated data naming the table, the column and the row's
  binding: security.fields); the outbox keeps its format until its writer passes a row.
- `channels.session_hash`: the session a channel opened after login belongs to.

The formats are written out here rather than imported, so that this migration keeps doing
what it did when the code moves on. It needs the keyring, as the application does.
"""

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from wangyin.security.crypto import aead_decrypt, aead_encrypt, keyed_hash, sm3
from wangyin.security.keys import Keyring, load_keyring

revision: str = "20261204_0050"
down_revision: str | None = "20261204_0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64

# (table, primary key, column, binding column, field name)
_BOUND = (
    ("customers", "id", "id_number", "public_id", "id_number"),
    ("customers", "id", "mobile", "public_id", "mobile"),
    ("cards", "id", "number", "number_hash", "card_number"),
    ("channels", "kid", "key", "kid", "channel_key"),
    ("keyboard_layouts", "id", "digits", "id", "keyboard_layout"),
)

_records = sa.table(
    "audit_records",
    sa.column("id", sa.BigInteger()),
    sa.column("chain", sa.Integer()),
    sa.column("seq", sa.BigInteger()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("event", sa.String()),
    sa.column("outcome", sa.String()),
    sa.column("customer_id", sa.BigInteger()),
    sa.column("actor", sa.String()),
    sa.column("ip", sa.String()),
    sa.column("device_id", sa.String()),
    sa.column("client", sa.String()),
    sa.column("details", sa.Text()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
    sa.column("mac_key", sa.String()),
)
_heads = sa.table("audit_head", sa.column("id", sa.BigInteger()), sa.column("hash", sa.String()))


def _utc(moment: datetime) -> str:
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.isoformat()


def _fields(row: sa.Row[Any], prev_hash: str) -> list[str]:
    return [
        str(row.seq),
        _utc(row.at),
        row.event,
        row.outcome,
        "" if row.customer_id is None else str(row.customer_id),
        row.actor,
        row.ip,
        row.device_id,
        row.client,
        row.details,
        prev_hash,
    ]


def _dumps(fields: list[str]) -> bytes:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()


def _unkeyed_hash(row: sa.Row[Any], prev_hash: str) -> str:
    """The SM3 chain before this revision (chain 0 without its number, as before chains)."""
    prefix = [f"chain:{row.chain}"] if row.chain else []
    return sm3(_dumps([*prefix, *_fields(row, prev_hash)])).hex()


def _keyed_hash(ring: Keyring, key_id: str, row: sa.Row[Any], prev_hash: str) -> str:
    """security.audit's canonical form, version 2, under audit key `key_id`."""
    fields = ["wangyin audit v2", key_id, str(row.chain), *_fields(row, prev_hash)]
    return keyed_hash(ring.audit.key(key_id), _dumps(fields), algorithm="SM3")


def _chains(bind: sa.Connection) -> dict[int, list[sa.Row[Any]]]:
    chains: dict[int, list[sa.Row[Any]]] = {}
    for row in bind.execute(sa.select(_records).order_by(_records.c.chain, _records.c.seq)):
        chains.setdefault(int(row.chain), []).append(row)
    return chains


def _rechain(ring: Keyring, *, key_them: bool) -> None:
    """Walk each chain in order, checking every record under the scheme it is in (unkeyed
    SM3, or keyed) and rewriting it into the other, chained to its rewritten predecessor.
    At the first record that does not check, the chain is left as it is from there on."""
    bind = op.get_bind()
    for chain, rows in _chains(bind).items():
        old_prev, new_prev, expected_seq = GENESIS, GENESIS, 1
        for row in rows:
            if key_them:
                checks = row.mac_key is None and _unkeyed_hash(row, old_prev) == row.hash
            else:
                checks = (
                    row.mac_key in ring.audit.keys
                    and _keyed_hash(ring, row.mac_key, row, old_prev) == row.hash
                )
            if not (checks and row.seq == expected_seq and row.prev_hash == old_prev):
                break  # the rest of this chain stays as it is: verify reports it
            if key_them:
                new_hash, mac_key = (
                    _keyed_hash(ring, ring.audit.active, row, new_prev),
                    ring.audit.active,
                )
            else:
                new_hash, mac_key = _unkeyed_hash(row, new_prev), None
            bind.execute(
                sa.update(_records)
                .where(_records.c.id == row.id)
                .values(prev_hash=new_prev, hash=new_hash, mac_key=mac_key)
            )
            old_prev, new_prev, expected_seq = row.hash, new_hash, expected_seq + 1
        else:
            if rows:
                bind.execute(
                    sa.update(_heads)
                    .where(_heads.c.id == chain + 1, _heads.c.hash == old_prev)
                    .values(hash=new_prev)
                )


def _aad(field: str, table: str, column: str, row: str | None) -> bytes:
    if row is None:
        return field.encode()
    return f"wangyin field v2|{field}|{table}.{column}|{row}".encode()


def _rewrite_fields(ring: Keyring, *, bind_them: bool) -> None:
    """Every value of the bound columns, from the first format to the bound one (or back)."""
    bind = op.get_bind()
    for table, pk, column, binding, field in _BOUND:
        rows = bind.execute(
            sa.text(f"SELECT {pk}, {column}, {binding} FROM {table}")  # noqa: S608 - fixed names
        ).all()
        for key, stored, bound_to in rows:
            if not stored:
                continue
            key_id, _, rest = str(stored).partition(":")
            is_bound = rest.startswith("2:")
            if is_bound == bind_them:
                continue
            old_aad = _aad(field, table, column, str(bound_to) if is_bound else None)
            payload = rest[2:] if is_bound else rest
            clear = aead_decrypt(
                ring.algorithm, ring.key(key_id), base64.b64decode(payload), old_aad
            )
            new_aad = _aad(field, table, column, str(bound_to) if bind_them else None)
            blob = base64.b64encode(
                aead_encrypt(ring.algorithm, ring.active_key, clear, new_aad)
            ).decode()
            value = f"{ring.active}:2:{blob}" if bind_them else f"{ring.active}:{blob}"
            bind.execute(
                sa.text(f"UPDATE {table} SET {column} = :v WHERE {pk} = :k"),  # noqa: S608
                {"v": value, "k": key},
            )


def upgrade() -> None:
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mac_key", sa.String(length=16), nullable=True))
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_hash", sa.String(length=64), nullable=True))
    ring = load_keyring()
    _rechain(ring, key_them=True)
    _rewrite_fields(ring, bind_them=True)


def downgrade() -> None:
    ring = load_keyring()
    _rewrite_fields(ring, bind_them=False)
    _rechain(ring, key_them=False)
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.drop_column("session_hash")
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.drop_column("mac_key")
