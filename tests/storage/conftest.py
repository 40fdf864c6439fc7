"""Fixtures: every storage test runs twice, on a fresh SQLite file and on a fresh PostgreSQL database.

PostgreSQL is a throwaway cluster started once per test session from the machine's binaries
(``initdb``/``pg_ctl``) in a temp dir, listening on 127.0.0.1 at an ephemeral port; each test gets its
own database in it. Missing binaries fail the tests loudly: a silent skip would hide that half of
the suite never ran.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage.db import make_engine, make_session_factory
from storage.migrate import migrate
from tests.ports import free_port

PG_BINARIES = ("initdb", "pg_ctl", "postgres")
PG_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/bin", "/usr/lib/postgresql/15/bin"])


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def admin_conninfo(self) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname=postgres"


def _find_pg_binary(name: str) -> str:
    found = shutil.which(name, path=PG_SEARCH_PATH)
    if found is None:
        pytest.fail(
            f"PostgreSQL binary {name!r} not found on PATH or in /usr/local/bin: the storage tests need "
            "PostgreSQL 15 (initdb, pg_ctl, postgres) to run the PostgreSQL half of the suite",
            pytrace=False,
        )
    return found


def _as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; run its tools as the ``postgres`` user when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    initdb, pg_ctl = _find_pg_binary("initdb"), _find_pg_binary("pg_ctl")
    _find_pg_binary("postgres")
    base = Path(tempfile.mkdtemp(prefix="etcdops-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, user="postgres", group="postgres")
    port = free_port()
    started = False
    try:
        subprocess.run(
            _as_postgres([initdb, "-A", "trust", "-U", "postgres", "-E", "UTF8", "-D", str(data)]),
            check=True,
            capture_output=True,
            timeout=60,
        )
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        subprocess.run(
            _as_postgres(
                [pg_ctl, "-D", str(data), "-l", str(base / "server.log"), "-o", options, "-w", "start"]
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )
        started = True
        yield PostgresServer(host="127.0.0.1", port=port, user="postgres")
    except subprocess.CalledProcessError as exc:
        log = base / "server.log"
        pytest.fail(
            f"could not start the throwaway PostgreSQL: {exc}\n{exc.stderr!r}\n"
            + (log.read_text() if log.exists() else ""),
            pytrace=False,
        )
    finally:
        if started:
            subprocess.run(
                _as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
                check=False,
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (not migrated): a SQLite file, or a new database on the test PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'etcdops.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    with fresh_database(server) as url:
        yield url


@contextlib.contextmanager
def fresh_database(server: PostgresServer, prefix: str = "t_") -> Iterator[str]:
    """A new, empty database on the throwaway server (its URL), dropped afterwards with its sessions."""
    name = prefix + uuid.uuid4().hex[:16]
    with psycopg.connect(server.admin_conninfo(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.url(name)
    finally:
        with psycopg.connect(server.admin_conninfo(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def engine_factory(database_url: str) -> Iterator[Callable[[], Engine]]:
    """Makes extra engines on the test database (one per thread in the concurrency tests)."""
    engines: list[Engine] = []

    def make() -> Engine:
        engine = make_engine(database_url)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def engine(database_url: str, engine_factory: Callable[[], Engine]) -> Engine:
    """An engine on a freshly migrated test database."""
    migrate(database_url)
    return engine_factory()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with make_session_factory(engine)() as session:
        yield session
