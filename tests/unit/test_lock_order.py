"""The one lock order (ARCHITECTURE rule 3): ledger accounts are locked in ascending id,
whatever order the legs name them in. Checked on the statement itself, because under load
a deadlock from a broken order is rare (both rows are locked within one statement) and
PostgreSQL would retry it away silently."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite

from wangyin.ledger import service as ledger


def test_accounts_are_locked_in_ascending_id_whatever_the_leg_order() -> None:
    for reserve in (False, True):
        statement, params = ledger.lock_read([42, 7, 42, 19], reserve_entry_id=reserve)
        assert list(params.values()) == [7, 19, 42]
        on_postgresql = str(statement.compile(dialect=postgresql.psycopg.dialect()))
        assert on_postgresql.endswith("ORDER BY ledger_accounts.id FOR UPDATE OF ledger_accounts")
        # SQLite has no row locks: BEGIN IMMEDIATE serialises writers (db.py).
        assert str(statement.compile(dialect=sqlite.dialect())).endswith(
            "ORDER BY ledger_accounts.id"
        )
