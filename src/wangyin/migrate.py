"""Alembic, driven from code so `wangyin db upgrade` works wherever the package is installed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import make_url

from wangyin.db import normalize_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalize_url(database_url).replace("%", "%%"))
    return config


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases, in-memory and URI-mode ones)."""
    url = make_url(normalize_url(database_url))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    if url.query.get("uri") == "true" or url.database.startswith("file:"):
        return None
    return Path(url.database)


def ensure_sqlite_dir(database_url: str) -> None:
    """Create the directory of a SQLite file (var/ on a fresh clone), as the app's engine
    does, so the first `wangyin db upgrade` can create the database file in it."""
    path = sqlite_path(database_url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def schema_problem(database_url: str) -> str | None:
    """Why this code cannot run on the database yet (no schema, or migrations still to
    apply), or None when it is at the head revision. A database at a revision this code
    does not know (migrated by a newer release) is accepted. Creates nothing."""
    path = sqlite_path(database_url)
    if path is not None and not path.exists():
        return f"there is no database at {path}"
    script = ScriptDirectory.from_config(alembic_config(database_url))
    heads = set(script.get_heads())
    engine = create_engine(normalize_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()
    if not current:
        return "the database has no schema yet"
    known = {rev.revision for rev in script.walk_revisions()}
    if current == heads or not current <= known:
        return None
    return (
        f"the database is at revision {', '.join(sorted(current))}; "
        f"this code needs {', '.join(sorted(heads))}"
    )


def upgrade(database_url: str, revision: str = "heads") -> None:
    """To every head: a domain may start its own branch of migrations from the revision it
    builds on (its own `branch_labels`), so work on two domains never fights over one
    `down_revision`; "heads" applies all of them."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)
