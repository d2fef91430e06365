"""The audit copy (issue 8 §5, ASVS5-16.4.2/16.4.3): every audit record, also in a second
PostgreSQL database where the application's role may only INSERT and SELECT.

Whoever controls the application's database (its role, a stolen password, an SQL
injection) can rewrite `audit_records`; the keyed hash chain then fails `wangyin verify`,
but deleting the newest records leaves a shorter chain that still verifies, and nothing
would say what the deleted records held. The copy does: it lives in its own database,
owned by a role the application never logs in as; the application's copy role
(WANGYIN_AUDIT_COPY_URL) has INSERT and SELECT on one table and nothing else, and a
trigger refuses UPDATE even to the owner. `wangyin verify` compares the two, record by
record: missing from the copy (a gap), altered (a field differs), or gone from the
database while the copy has it.

Shipping: the audit records are the outbox (written in the action's own transaction);
the worker's `audit_shipping` job copies each chain's records past its cursor
(`audit_ship_cursor`, locked with SKIP LOCKED so several workers never ship one chain at
once), inserts them into the copy (ON CONFLICT DO NOTHING: a re-send after a crash is
harmless, and needs no UPDATE right), then moves the cursor in the same application
transaction. At least once, in chain order, nothing on the request's hot path.

Setting the copy up (as a PostgreSQL superuser, once; the tests use the same function):

    python -m wangyin.observability.audit_copy setup --admin-url postgresql://postgres@db/postgres

Pruning the copy (its retention, as its owner or a superuser, from cron):

    python -m wangyin.observability.audit_copy prune \
        --url postgresql://postgres@db/wangyin_audit --days 3650
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from wangyin.clock import as_utc
from wangyin.db import Database, normalize_url
from wangyin.observability.models import AuditShipCursor
from wangyin.security import audit
from wangyin.security.crypto import constant_time_equal
from wangyin.security.keys import KeyringError, load_keyring
from wangyin.security.models import AuditRecord
from wangyin.uow import run_write

TABLE = "audit_copy"
# Every stored field of an audit record (what its hash covers, and its hash).
FIELDS = (
    "chain",
    "seq",
    "at",
    "event",
    "outcome",
    "customer_id",
    "actor",
    "ip",
    "device_id",
    "client",
    "details",
    "prev_hash",
    "hash",
    "mac_key",
)

# Not on Base.metadata: this table lives in the copy's database, never in the app's.
_metadata = MetaData()
copy_table = Table(
    TABLE,
    _metadata,
    Column("chain", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("event", String(48), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("customer_id", BigInteger),
    Column("actor", String(80), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("device_id", String(80), nullable=False),
    Column("client", String(300), nullable=False),
    Column("details", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("mac_key", String(16)),
    Column("received_at", DateTime(timezone=True)),
)

_DDL = """
CREATE TABLE IF NOT EXISTS audit_copy (
    chain integer NOT NULL,
    seq bigint NOT NULL,
    at timestamptz NOT NULL,
    event varchar(48) NOT NULL,
    outcome varchar(16) NOT NULL,
    customer_id bigint,
    actor varchar(80) NOT NULL,
    ip varchar(64) NOT NULL,
    device_id varchar(80) NOT NULL,
    client varchar(300) NOT NULL,
    details text NOT NULL,
    prev_hash varchar(64) NOT NULL,
    hash varchar(64) NOT NULL,
    mac_key varchar(16),
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, seq)
);
CREATE INDEX IF NOT EXISTS audit_copy_at ON audit_copy (at);
CREATE OR REPLACE FUNCTION audit_copy_no_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit copy records are never updated';
END $$;
DROP TRIGGER IF EXISTS audit_copy_no_update ON audit_copy;
CREATE TRIGGER audit_copy_no_update BEFORE UPDATE ON audit_copy
    FOR EACH ROW EXECUTE FUNCTION audit_copy_no_update();
"""

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _name(value: str) -> sql.Identifier:
    if not _NAME.fullmatch(value):
        raise ValueError(f"not a plain PostgreSQL name: {value!r}")
    return sql.Identifier(value)


def _url_with(url: str, *, user: str, database: str, password: str | None) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info.update(user=user, dbname=database)
    info.pop("password", None)
    if password:
        info["password"] = password
    host = info.pop("host", "127.0.0.1")
    port = info.pop("port", "5432")
    credentials = user + (f":{password}" if password else "")
    query = "&".join(f"{k}={v}" for k, v in info.items() if k not in ("user", "dbname"))
    return f"postgresql://{credentials}@{host}:{port}/{database}" + (f"?{query}" if query else "")


def setup(
    admin_url: str,
    *,
    database: str = "wangyin_audit",
    writer: str = "wangyin_audit_writer",
    owner: str = "wangyin_audit_owner",
    writer_password: str | None = None,
) -> str:
    """Create (idempotently) the copy's database owned by `owner` (a role nobody logs in
    as), its table, and the `writer` role with INSERT and SELECT on it only. Returns the
    writer's URL: WANGYIN_AUDIT_COPY_URL."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        for role, login in ((owner, False), (writer, True)):
            exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if not exists:
                admin.execute(
                    sql.SQL("CREATE ROLE {} {}").format(
                        _name(role), sql.SQL("LOGIN" if login else "NOLOGIN")
                    )
                )
        if writer_password:
            admin.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    _name(writer), sql.Literal(writer_password)
                )
            )
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            admin.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(_name(database), _name(owner))
            )
        admin.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(_name(database)))
        admin.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(_name(database), _name(writer))
        )
    copy_admin_url = psycopg.conninfo.make_conninfo(admin_url, dbname=database)
    with psycopg.connect(copy_admin_url, autocommit=True) as conn:
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.execute(_DDL)
        for statement in (
            "ALTER TABLE audit_copy OWNER TO {owner}",
            "ALTER FUNCTION audit_copy_no_update() OWNER TO {owner}",
            "REVOKE ALL ON audit_copy FROM PUBLIC",
            "GRANT USAGE ON SCHEMA public TO {writer}",
            "GRANT SELECT, INSERT ON audit_copy TO {writer}",
        ):
            conn.execute(sql.SQL(statement).format(owner=_name(owner), writer=_name(writer)))
    return _url_with(admin_url, user=writer, database=database, password=writer_password)


def teardown(
    admin_url: str,
    *,
    database: str = "wangyin_audit",
    writer: str = "wangyin_audit_writer",
    owner: str = "wangyin_audit_owner",
) -> None:
    """Drop the copy's database and both roles (tests; decommissioning)."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(_name(database)))
        for role in (writer, owner):
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(_name(role)))


class CopyStore:
    """The application's connection to the copy, as its INSERT-and-SELECT role."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(normalize_url(url), pool_size=2, max_overflow=0)

    def dispose(self) -> None:
        self.engine.dispose()


def _row(record: AuditRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in FIELDS}


def ship(db: Database, copy: CopyStore, *, at: datetime, batch: int = 1000) -> int:
    """Copy the audit records past each chain's cursor to the copy; returns how many."""

    def action(session: Session) -> int:
        heads = audit.chain_heads(session)
        cursors = {
            c.chain: c
            for c in session.scalars(select(AuditShipCursor).with_for_update(skip_locked=True))
        }
        known = set(session.scalars(select(AuditShipCursor.chain)))
        for chain in heads:
            if chain not in known:
                # A first shipper for this chain; a concurrent one loses on the key and
                # its unit of work is retried.
                cursor = AuditShipCursor(chain=chain, seq=0, shipped_at=None)
                session.add(cursor)
                cursors[chain] = cursor
        session.flush()
        shipped = 0
        for chain, cursor in sorted(cursors.items()):
            head_seq = heads.get(chain, (0, ""))[0]
            if head_seq <= cursor.seq:
                continue
            records = session.scalars(
                select(AuditRecord)
                .where(AuditRecord.chain == chain, AuditRecord.seq > cursor.seq)
                .order_by(AuditRecord.seq)
                .limit(batch)
            ).all()
            if not records:
                continue
            with copy.engine.begin() as conn:
                conn.execute(
                    pg_insert(copy_table).on_conflict_do_nothing(), [_row(r) for r in records]
                )
            cursor.seq = records[-1].seq
            cursor.shipped_at = at
            shipped += len(records)
        return shipped

    return run_write(db, action)


@dataclass
class Comparison:
    checks: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _by_chain(rows: Iterator[Any]) -> dict[int, dict[int, dict[str, Any]]]:
    chains: dict[int, dict[int, dict[str, Any]]] = {}
    for row in rows:
        values = {name: getattr(row, name) for name in FIELDS}
        values["at"] = as_utc(values["at"]).replace(microsecond=0)
        chains.setdefault(int(values["chain"]), {})[int(values["seq"])] = values
    return chains


def compare(session: Session, copy: CopyStore) -> Comparison:
    """Every difference between the database's audit records and the copy: a record the
    copy should hold and does not (a gap), a field that differs (altered), a record the
    copy holds that is gone from the database (deleted; unless retention pruned it, past
    its keyed marker), and a copy record whose keyed hash fails (altered in the copy)."""
    result = Comparison()
    starts, _ = audit.pruned_starts(session)  # verify_chain reports markers that fail
    cursors = {int(c.chain): int(c.seq) for c in session.scalars(select(AuditShipCursor))}
    ours = _by_chain(iter(session.scalars(select(AuditRecord).order_by(AuditRecord.chain))))
    with copy.engine.connect() as conn:
        theirs = _by_chain(iter(conn.execute(select(copy_table))))
    try:
        ring = load_keyring()
    except KeyringError:
        ring = None
    pending = 0
    for chain in sorted(set(ours) | set(theirs)):
        mine, copied = ours.get(chain, {}), theirs.get(chain, {})
        shipped_to = cursors.get(chain, 0)
        pruned_to = starts.get(chain, (0, ""))[0]
        for seq in sorted(set(mine) | set(copied)):
            here, there = mine.get(seq), copied.get(seq)
            if there is None:
                if seq <= shipped_to:
                    result.problems.append(
                        f"audit chain {chain}: record {seq} is missing from the audit copy (a gap)"
                    )
                else:
                    pending += 1
                continue
            if ring is not None and there.get("mac_key") in ring.audit.keys:
                stored = AuditRecord(**{k: there[k] for k in FIELDS})
                if not constant_time_equal(audit.record_hash(stored, ring), there["hash"]):
                    result.problems.append(
                        f"audit chain {chain}: record {seq} of the audit copy fails its keyed "
                        "hash (altered in the copy)"
                    )
            if here is None:
                if seq > pruned_to:
                    result.problems.append(
                        f"audit chain {chain}: record {seq} is in the audit copy but gone from "
                        "the database (deleted)"
                    )
                continue
            differing = [name for name in FIELDS if here[name] != there[name]]
            if differing:
                result.problems.append(
                    f"audit chain {chain}: record {seq} differs from the audit copy in "
                    f"{', '.join(differing)} (altered)"
                )
    result.checks["audit copy records"] = sum(len(c) for c in theirs.values())
    result.checks["audit records not yet shipped"] = pending
    return result


def prune(url: str, *, days: int, at: datetime) -> int:
    """Delete copy records older than `days` (the copy's retention). Needs a role with
    DELETE on the copy: its owner or a superuser, never the application's."""
    engine = create_engine(normalize_url(url))
    try:
        with engine.begin() as conn:
            result = conn.execute(
                delete(copy_table).where(copy_table.c.at < at - timedelta(days=days))
            )
            return int(result.rowcount or 0)
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    from datetime import UTC

    parser = argparse.ArgumentParser(prog="python -m wangyin.observability.audit_copy")
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("setup", help="create the copy's database, table and roles")
    make.add_argument("--admin-url", required=True, help="a superuser's URL (any database)")
    make.add_argument("--database", default="wangyin_audit")
    make.add_argument("--writer", default="wangyin_audit_writer")
    make.add_argument("--owner", default="wangyin_audit_owner")
    make.add_argument("--writer-password", default=None)
    cut = commands.add_parser("prune", help="delete copy records older than --days")
    cut.add_argument("--url", required=True, help="the copy database, as its owner")
    cut.add_argument("--days", type=int, required=True)
    args = parser.parse_args(argv)
    if args.command == "setup":
        url = setup(
            args.admin_url,
            database=args.database,
            writer=args.writer,
            owner=args.owner,
            writer_password=args.writer_password,
        )
        print(f"WANGYIN_AUDIT_COPY_URL={url}")
    else:
        print(f"{prune(args.url, days=args.days, at=datetime.now(UTC))} copy records pruned")


if __name__ == "__main__":
    main()
