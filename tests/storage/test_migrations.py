"""Migrations and engine configuration: the schema comes from Alembic and matches the models."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import storage.models  # noqa: F401
from storage.db import DEFAULT_DATABASE_URL, database_url_from_env, make_engine, parse_database_url
from storage.errors import InvalidDatabaseURLError
from storage.migrate import current_revision, downgrade, head_revision, migrate

TABLES = {
    "schedule",
    "scheduler_lease",
    "health_state",
    "apscheduler_jobs",
    "relay_cursor",
    "run",
    "step_run",
    "approval",
    "approval_vote",
    "backup",
    "timeline_event",
    "incident",
    "incident_channel",
    "cluster_lock",
    "channel_default",
}


def test_migrate_creates_every_table_and_is_idempotent(database_url: str) -> None:
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) == TABLES | {"alembic_version"}
        assert current_revision(engine) == head_revision()
        migrate(database_url)
        assert current_revision(engine) == head_revision()
        assert set(inspect(engine).get_table_names()) == TABLES | {"alembic_version"}
    finally:
        engine.dispose()


def test_alembic_head_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_sqlite_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 15000
    finally:
        engine.dispose()


def test_default_url_is_a_sqlite_file() -> None:
    assert database_url_from_env({}) == DEFAULT_DATABASE_URL == "sqlite:///./etcdops.db"
    assert database_url_from_env({"DATABASE_URL": "postgresql://db/x"}) == "postgresql://db/x"
    assert parse_database_url(DEFAULT_DATABASE_URL).database == "./etcdops.db"


def test_plain_postgresql_url_uses_psycopg3() -> None:
    assert parse_database_url("postgresql://u@h/db").drivername == "postgresql+psycopg"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://u@h/db", "not supported"),
        ("postgresql+psycopg2://u@h/db", "driver 'psycopg2' is not supported"),
        ("sqlite+aiosqlite:///x.db", "SQLite driver"),
    ],
)
def test_invalid_urls_give_a_clear_error(url: str, message: str) -> None:
    with pytest.raises(InvalidDatabaseURLError, match=message):
        make_engine(url)


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    from sqlmodel import Session

    from storage.models import ChannelDefault

    with Session(engine) as session:
        session.add(ChannelDefault(channel="C1", cluster="prod", set_at=dt.datetime(2026, 1, 1)))
        with pytest.raises(Exception, match="naive datetime"):
            session.commit()


def test_migrate_reads_database_url_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    migrate()
    engine = make_engine()
    try:
        assert str(engine.url) == url
        assert "run" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_missing_postgres_binaries_fail_loudly() -> None:
    from tests.storage.conftest import _find_pg_binary

    with pytest.raises(pytest.fail.Exception, match="not found"):
        _find_pg_binary("postgres-binary-that-does-not-exist")


def test_migrations_downgrade_to_base_and_up_again(database_url: str) -> None:
    migrate(database_url)
    downgrade(database_url, "base")
    engine = make_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        assert current_revision(engine) is None
        migrate(database_url)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_replicas_migrating_at_once_do_not_collide(database_url: str) -> None:
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            migrate(database_url)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
