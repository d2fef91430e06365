from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from wangyin import models_registry  # noqa: F401 - registers every table on Base.metadata
from wangyin.db import Base, normalize_url
from wangyin.migrate import ensure_sqlite_dir

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("sqlalchemy.url is not set")
    # The first migration creates the SQLite file: its directory (var/) must exist.
    ensure_sqlite_dir(url)
    # A plain engine: on SQLite, foreign keys stay off while batch mode rebuilds tables
    # (the app's engine turns them on, and SQLite cannot drop a referenced table then).
    engine = create_engine(normalize_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
