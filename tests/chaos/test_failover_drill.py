"""Synchronous standby and automatic failover (issue 8 §3): the drill's short form, and the
pieces it stands on.

The drill (`wangyin.ops.drill`, `make drill`) starts etcd and two PostgreSQL nodes under
Patroni (a primary and a synchronous standby) on private ports, serves the app on the
multi-host URL, transfers under load with same-key resends, SIGKILLs the primary, and
measures RPO (acknowledged transfers lost) and RTO. Without Debian's patroni and etcd it
is skipped, except under CI=true (`make test` installs them: `make ha-packages`).
"""

from __future__ import annotations

import os
import threading
import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy import event, literal_column, select, text

from factories import make_person
from factories.transfers import pay
from wangyin.config import Settings
from wangyin.db import Database, read_together
from wangyin.dbfaults import is_connection_lost
from wangyin.ops import drill
from wangyin.ops.cluster import Cluster, missing_programs
from wangyin.uow import run_write

IN_CI = os.environ.get("CI", "").lower() == "true"
AT = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def _require_cluster_programs() -> None:
    missing = missing_programs()
    if missing:
        reason = "missing " + ", ".join(missing) + " (make ha-packages)"
        if IN_CI:
            pytest.fail(f"{reason}: required under CI=true", pytrace=False)
        pytest.skip(reason)


@pytest.mark.timeout(120)
def test_failover_drill_short_form_loses_no_acknowledged_transfer() -> None:
    _require_cluster_programs()
    lines: list[str] = []
    result = drill.drill(clients=3, before=3.0, after=1.0, timeout=45.0, say=lines.append)
    report = drill.report(result) + "\n" + "\n".join(lines)
    # The standby was synchronous when the primary died, and transfers were acknowledged
    # on both sides of the kill.
    assert (result.synchronous_commit, result.standby_sync_state) == ("on", "sync"), report
    assert result.transfers_acknowledged > result.acknowledged_after_kill > 0, report
    assert result.rpo_lost == 0, report
    # Same-key resends booked nothing twice, and nothing was booked unacknowledged.
    assert result.transfers_completed == result.transfers_acknowledged, report
    assert result.rto_seconds is not None and result.rto_seconds < 30, report
    assert result.new_primary not in ("none", result.old_primary), report
    # The killed node came back as the new primary's synchronous standby.
    assert result.rejoin_seconds is not None, report
    assert result.total_before_minor == result.total_after_minor, report
    assert result.negative_accounts == 0, report
    assert result.verify_ok, report
    assert result.unresolved == 0, report
    assert result.ok, report


def test_cluster_url_names_every_node_and_only_a_primary_will_do() -> None:
    cluster = Cluster.create(nodes=2) if not missing_programs() else None
    if cluster is None:
        _require_cluster_programs()
        return
    try:
        first, second = cluster.nodes
        url = cluster.url("bank")
        assert url.startswith("postgresql://postgres@/bank?")
        assert f"host=127.0.0.1:{first.pg_port}&host=127.0.0.1:{second.pg_port}" in url
        assert "target_session_attrs=read-write" in url
        libpq = cluster.libpq_url("bank")
        assert f"@127.0.0.1:{first.pg_port},127.0.0.1:{second.pg_port}/bank?" in libpq
        assert libpq.endswith("target_session_attrs=read-write")
    finally:
        cluster.stop()
    assert not cluster.root.exists()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://bank@/bank?host=10.0.0.11:5432&host=10.0.0.12:5432",
        "postgresql://bank@/bank?host=10.0.0.11,10.0.0.12&port=5432,5432",
        "postgresql://bank@/bank?host=a:1&host=b:2&target_session_attrs=any",
        "postgresql://bank@/bank?host=a:1&host=b:2&target_session_attrs=read-only",
    ],
)
def test_several_hosts_without_asking_for_the_primary_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="target_session_attrs=read-write"):
        Database(url)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://bank@/bank?host=a:1&host=b:2&target_session_attrs=read-write",
        "postgresql://bank@/bank?host=a:1&host=b:2&target_session_attrs=primary",
        "postgresql://bank@10.0.0.11:5432/bank",
        "postgresql://bank@/bank?host=10.0.0.11:5432",
    ],
)
def test_one_host_or_several_asking_for_the_primary_are_accepted(url: str) -> None:
    Database(url).dispose()  # builds the engine; connects to nothing


# ---------------------------------------------------------------------------------------
# What the drill counts as lost, on the test PostgreSQL.


def test_an_acknowledged_transfer_is_lost_unless_completed_for_the_same_amount(
    pg_db: Database, pg_url: str
) -> None:
    settings = Settings(database_url=pg_url, channel_encryption="optional")
    payer, payee = run_write(
        pg_db, lambda s: (make_person(s, at=AT), make_person(s, at=AT, balance_minor=0))
    )
    confirmed = pay(pg_db, payer, payee, "12.34", at=AT, settings=settings)
    assert confirmed["status"] == "COMPLETED"

    def ack(transfer_id: str, amount_minor: int) -> drill.Ack:
        return drill.Ack(transfer_id, amount_minor, sent_at=0.0, acked_at=0.0)

    assert drill.lost_acknowledged(pg_url, []) == 0
    assert drill.lost_acknowledged(pg_url, [ack(confirmed["id"], 1234)]) == 0
    assert drill.lost_acknowledged(pg_url, [ack(confirmed["id"], 1235)]) == 1
    missing = ack(str(uuid.uuid4()), 1234)
    assert drill.lost_acknowledged(pg_url, [ack(confirmed["id"], 1234), missing]) == 1
    total, negatives = drill.customer_totals(pg_url)
    assert (total, negatives) == (10_000_00, 0)
    assert drill.completed_transfers(pg_url) == 1


# ---------------------------------------------------------------------------------------
# The pool after a failover: it drops the connections that lead to the old primary.


def _backend_pids(db: Database, count: int) -> list[int]:
    """Open `count` pooled connections at once and return their server process ids."""
    sessions = [db.read_sessions() for _ in range(count)]
    try:
        return [int(s.execute(text("SELECT pg_backend_pid()")).scalar_one()) for s in sessions]
    finally:
        for s in sessions:
            s.commit()
            s.close()


def test_a_connection_lost_in_a_pipeline_drops_the_whole_pool(pg_url: str) -> None:
    db = Database(pg_url, pool_size=3)
    try:
        pids = _backend_pids(db, 3)
        with psycopg.connect(pg_url, autocommit=True) as admin:
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        one = select(literal_column("1").label("one"))
        first = db.read_sessions()
        with pytest.raises(Exception) as lost:
            read_together(first, [(one, {})])
        first.close()
        assert is_connection_lost(lost.value)
        # The two others still in the pool also lead to dead backends: they are replaced
        # at checkout instead of failing one request each.
        sessions = [db.read_sessions() for _ in range(2)]
        try:
            for s in sessions:
                assert read_together(s, [(one, {})])[0][0].one == 1
        finally:
            for s in sessions:
                s.commit()
                s.close()
    finally:
        db.dispose()


def test_a_write_on_a_standby_reconnects_and_finds_the_primary(pg_url: str) -> None:
    """The first connection behaves as a standby (read-only); the unit of work's retry
    must get a new connection, not the same read-only one again and again."""
    db = Database(pg_url, pool_size=2)
    made = {"count": 0}
    lock = threading.Lock()

    @event.listens_for(db.engine, "connect")
    def _first_is_a_standby(dbapi_connection: psycopg.Connection, _record: object) -> None:
        with lock:
            made["count"] += 1
            standby = made["count"] == 1
        if standby:
            autocommit = dbapi_connection.autocommit
            dbapi_connection.autocommit = True
            dbapi_connection.execute("SET default_transaction_read_only = on")
            dbapi_connection.autocommit = autocommit

    try:
        done = run_write(
            db,
            lambda s: (
                s.execute(
                    text("UPDATE ledger_accounts SET balance_minor = balance_minor WHERE false")
                ).rowcount
            ),
        )
        assert done == 0
        assert made["count"] == 2  # the read-only connection was replaced once
        assert db.stats.retries == 1
    finally:
        db.dispose()
