"""Shared fixtures: databases (SQLite and PostgreSQL), a frozen clock, settings.

Integration tests take the `db` fixture, which is parametrized over SQLite (a migrated
template file copied per test) and PostgreSQL (one database per xdist worker, migrated
once, truncated before each test). PostgreSQL is skipped when unreachable, except under
CI=true where its absence is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from wangyin import models_registry  # noqa: F401 - registers every table on Base.metadata
from wangyin.clock import FrozenClock
from wangyin.config import Settings
from wangyin.db import Base, Database
from wangyin.migrate import upgrade

PG_ADMIN_URL = os.environ.get("WANGYIN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"

# 10:00 in Shanghai on a Monday: well inside one bank day.
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def _pg_unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"PostgreSQL is required under CI=true: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL unreachable ({reason})")


def _pg_url_for(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this worker; dropped at the end."""
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        _pg_unavailable(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"wangyin_test_{worker}_{os.getpid()}"
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _pg_url_for(name)
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def truncate_all(db: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per session; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


def sqlite_copy(template: Path, directory: Path, name: str = "wangyin.db") -> str:
    target = directory / name
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    return sqlite_copy(sqlite_template, tmp_path)


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Database]:
    db = Database(sqlite_url)
    yield db
    db.dispose()


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    db = Database(pg_url, pool_size=20)
    truncate_all(db)
    yield db
    db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Database:
    """The same test against both supported databases."""
    fixture = "sqlite_db" if request.param == "sqlite" else "pg_db"
    database: Database = request.getfixturevalue(fixture)
    return database


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # database_url is only informational here: the app is handed its Database directly.
    # Plain sensitive fields are accepted, so API tests can send them as they are; the
    # channel tests (tests/functional/test_channel.py) prove "required" mode.
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'unused.db'}", channel_encryption="optional"
    )
