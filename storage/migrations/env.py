"""Alembic environment: runs on the connection handed over by :func:`storage.migrate.migrate`.

No ``alembic.ini`` and no URL in here: the caller owns the engine, so the same code migrates the
SQLite file, a production PostgreSQL and a test's throwaway database.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers every table on SQLModel.metadata)

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds tables for future revisions.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations through storage.migrate.migrate(database_url), not the alembic CLI")
_run(connection)
