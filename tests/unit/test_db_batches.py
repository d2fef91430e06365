"""The hot path's trailing writes go as one statement (`db._batch`); its SQL is built once
per shape, and psycopg must be allowed to cache its conversion (it re-parses statements
over 4,096 bytes or 50 parameters on every execution otherwise, ~4 % of a transfer's CPU)."""

from __future__ import annotations

import psycopg
from sqlalchemy import bindparam, insert, update
from sqlalchemy.dialects import postgresql

from wangyin import db
from wangyin.security.models import AuditHead, AuditRecord

RECORDS = db.table_of(AuditRecord)
HEADS = db.table_of(AuditHead)
INSERT = insert(RECORDS)
MOVE = update(HEADS).where(HEADS.c.id == bindparam("head_row"))


def _writes(seq: int) -> list[tuple[object, dict[str, object]]]:
    record = {
        "chain": 1,
        "seq": seq,
        "at": None,
        "event": "transfer",
        "outcome": "ok",
        "customer_id": 7,
        "actor": "user:1",
        "ip": "",
        "device_id": "",
        "client": "",
        "details": "{}",
        "prev_hash": "0",
        "hash": "1",
        "mac_key": "k1",
    }
    return [(INSERT, record), (MOVE, {"head_row": 2, "seq": seq, "hash": "1"})]


def test_batch_sql_is_built_once_per_shape_and_binds_each_write() -> None:
    dialect = postgresql.psycopg.dialect()
    first_sql, first_values = db._batch(dialect, _writes(1))  # type: ignore[arg-type]
    second_sql, second_values = db._batch(dialect, _writes(2))  # type: ignore[arg-type]
    assert first_sql is second_sql  # the same object: no rebuilding, no regex per call
    assert first_sql.startswith("WITH w0 AS (INSERT INTO audit_records")
    assert "w1 AS (UPDATE audit_head SET" in first_sql
    assert (first_values["w0_seq"], second_values["w0_seq"]) == (1, 2)
    assert second_values["w1_seq"] == 2 and second_values["w1_head_row"] == 2


def test_psycopg_caches_batched_writes() -> None:
    # Importing wangyin.db raised psycopg's limits; if psycopg renames them, this fails
    # (and the batched writes silently go back to a full parse per execution).
    assert psycopg._queries.MAX_CACHED_STATEMENT_LENGTH >= 65536
    assert psycopg._queries.MAX_CACHED_STATEMENT_PARAMS >= 1000


def _slow_way(compiled: object, params: dict[str, object]) -> dict[str, object]:
    values = compiled.construct_params(params)  # type: ignore[attr-defined]
    processors = compiled._bind_processors  # type: ignore[attr-defined]
    return {k: processors[k](v) if k in processors else v for k, v in values.items()}


def test_binder_binds_as_sqlalchemy_does_constants_and_repeated_keys_included() -> None:
    from sqlalchemy import select

    dialect = postgresql.psycopg.dialect()
    by_customer = (
        select(HEADS.c.seq)
        .where(HEADS.c.id == bindparam("customer_id") % 16 + 1)
        .where(HEADS.c.seq > bindparam("customer_id"))
        .with_for_update()
    )
    compiled = by_customer.compile(dialect=dialect, column_keys=["customer_id"])
    binder = db._Binder(compiled, ("customer_id",))
    for customer in (7, 8):
        bound = binder.bind({"customer_id": customer})
        assert bound == _slow_way(compiled, {"customer_id": customer})
        assert customer in bound.values() and 16 in bound.values()  # the constants too
    sql, values = db._compiled_write(dialect, MOVE, {"head_row": 3, "seq": 9, "hash": "h"})
    assert sql.startswith("UPDATE audit_head SET")
    assert values == {"head_row": 3, "seq": 9, "hash": "h"}
