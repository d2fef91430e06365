"""The database layer's transactions on PostgreSQL: `read_together` sends BEGIN itself (in
the round trip of its reads) and leaves psycopg in autocommit mode; the next transaction
on that connection, from any other path, must still be one transaction."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from wangyin.db import Database, read_together
from wangyin.ledger.models import LedgerAccount
from wangyin.uow import run_read, run_write

pytestmark = pytest.mark.parametrize("db", ["postgresql"], indirect=True)

_OPEN = text(
    "INSERT INTO ledger_accounts (code, kind, currency, balance_minor, held_minor,"
    " allow_negative, created_at) VALUES (:code, 'internal', 'CNY', 0, 0, true, now())"
)


class Refused(Exception):
    pass


def test_an_orm_transaction_after_a_read_together_one_still_rolls_back(
    db: Database, pg_url: str
) -> None:
    one = Database(pg_url, pool_size=1)  # both transactions on the same connection
    try:
        run_write(one, lambda s: s.execute(_OPEN, {"code": "BANK:TEST:CNY"}))
        found = run_write(
            one,
            lambda s: read_together(
                s, [(select(LedgerAccount.id).where(LedgerAccount.code == "BANK:TEST:CNY"), {})]
            ),
        )
        assert len(found[0]) == 1

        def two_writes_then_refuse(s: Session) -> None:
            s.execute(_OPEN, {"code": "BANK:HALF:CNY"})
            s.execute(
                update(LedgerAccount)
                .where(LedgerAccount.code == "BANK:TEST:CNY")
                .values(balance_minor=LedgerAccount.balance_minor + 1)
            )
            raise Refused

        with pytest.raises(Refused):
            run_write(one, two_writes_then_refuse)
        # Nothing of the refused transaction stands: each statement did not commit alone.
        rows = run_read(
            one,
            lambda s: s.execute(
                select(LedgerAccount.code, LedgerAccount.balance_minor).where(
                    LedgerAccount.code.like("BANK:%")
                )
            ).all(),
        )
        assert [tuple(r) for r in rows] == [("BANK:TEST:CNY", 0)]
    finally:
        one.dispose()


def test_a_connection_asked_for_autocommit_keeps_it(db: Database, pg_url: str) -> None:
    """What switches psycopg back to opening transactions must leave alone a connection
    its caller put in AUTOCOMMIT: VACUUM refuses to run in a transaction block, and a
    backup's session lock must not hold a transaction open for hours."""
    one = Database(pg_url, pool_size=1)  # the same connection as the hot path's
    try:
        run_write(
            one, lambda s: read_together(s, [(select(LedgerAccount.id).limit(1), {})])
        )
        with one.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ledger_accounts"))
            conn.execute(text("SELECT 1"))
            raw = conn.connection.driver_connection
            assert raw is not None
            assert raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    finally:
        one.dispose()
