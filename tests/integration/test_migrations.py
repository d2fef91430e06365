"""The schema migrates up, down to nothing, and up again on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect

from wangyin import models_registry  # noqa: F401 - registers every table on Base.metadata
from wangyin.db import Base, normalize_url
from wangyin.migrate import downgrade, upgrade


def table_names(url: str) -> set[str]:
    engine = create_engine(normalize_url(url))
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrate.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_upgrade_downgrade_round_trip(fresh_url: str) -> None:
    expected = {t.name for t in Base.metadata.sorted_tables}
    upgrade(fresh_url)
    assert table_names(fresh_url) == expected
    downgrade(fresh_url, "base")
    assert table_names(fresh_url) == set()
    upgrade(fresh_url)  # leaves the shared test database as it found it
    assert table_names(fresh_url) == expected
