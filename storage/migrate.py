"""Apply the Alembic migrations programmatically: ``migrate(database_url)``.

The bot and the runner call this at start-up (it is a no-op when the schema is current), so there is
no separate ``alembic upgrade`` step to forget during a 3 a.m. deployment.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL, Engine

from storage.db import IMMEDIATE_OPTION, make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# An arbitrary constant naming the PostgreSQL advisory lock that serialises concurrent migrations.
MIGRATION_LOCK_KEY = 0x65746364_6D696772


def alembic_config() -> Config:
    """An Alembic configuration pointing at ``storage/migrations`` (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def migrate_engine(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database behind ``engine`` to ``revision``.

    Several replicas may start at once, so the whole upgrade runs in one transaction holding a lock:
    a PostgreSQL advisory lock, or SQLite's write lock (``BEGIN IMMEDIATE``). The second process waits,
    then finds the schema current and does nothing.
    """
    config = alembic_config()
    with engine.connect() as connection:
        connection = connection.execution_options(**{IMMEDIATE_OPTION: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            config.attributes["connection"] = connection
            command.upgrade(config, revision)


def downgrade(database_url: str | URL | None, revision: str) -> None:
    """Downgrade the database to ``revision`` (``"base"`` drops every table): for rollbacks and tests."""
    config = alembic_config()
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        engine.dispose()


def migrate(database_url: str | URL | None = None, revision: str = "head") -> None:
    """Upgrade the database at ``database_url`` (default: ``DATABASE_URL``) to ``revision``."""
    engine = make_engine(database_url)
    try:
        migrate_engine(engine, revision)
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
