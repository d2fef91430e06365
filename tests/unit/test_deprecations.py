"""The ledger check runs clean with warnings as errors (no deprecated SQLAlchemy calls)."""

from __future__ import annotations

from pathlib import Path

from wangyin.db import Database
from wangyin.ledger import service as ledger
from wangyin.migrate import upgrade
from wangyin.uow import run_read


def test_ledger_verify_raises_no_deprecation_warning(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    upgrade(url)
    db = Database(url)
    try:
        report = run_read(db, ledger.verify)
    finally:
        db.dispose()
    assert report.ok
