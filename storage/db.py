"""Engines and sessions built from a ``DATABASE_URL``.

There is deliberately no module-level engine: the bot, the runner and the tests each build their own
from a URL, so a test can point at a throwaway database and dispose it afterwards.

SQLite (the embedded default) is tuned for several threads in one process: WAL so readers never block
the writer, a busy timeout so a second writer waits instead of failing, and foreign keys on. The
pysqlite driver's own transaction handling is switched off so that SQLAlchemy's ``begin`` really emits
``BEGIN`` — and ``BEGIN IMMEDIATE`` when a service function needs the write lock up front (claims,
votes), which is what makes those read-then-write sequences atomic on SQLite.

PostgreSQL goes through psycopg 3 (``postgresql+psycopg://``); plain ``postgresql://`` is accepted and
mapped to it.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import functools
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, create_engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import Session

from storage.errors import InvalidDatabaseURLError

DEFAULT_DATABASE_URL = "sqlite:///./etcdops.db"
SQLITE_BUSY_TIMEOUT_MS = 15_000
IMMEDIATE_OPTION = "etcdops_sqlite_immediate"

SessionFactory = Callable[[], Session]
P = ParamSpec("P")
R = TypeVar("R")


def database_url_from_env(environ: dict[str, str] | None = None) -> str:
    """The configured ``DATABASE_URL``, or the SQLite file in the working directory."""
    env = os.environ if environ is None else environ
    return env.get("DATABASE_URL") or DEFAULT_DATABASE_URL


def parse_database_url(url: str | URL) -> URL:
    """Validate a database URL and normalise the driver; raise a readable error otherwise."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidDatabaseURLError(
            f"DATABASE_URL {str(url)!r} is not a database URL; expected e.g. {DEFAULT_DATABASE_URL!r} "
            "or 'postgresql+psycopg://user@host:5432/etcdops'"
        ) from exc
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend == "sqlite":
        if driver != "pysqlite":
            raise InvalidDatabaseURLError(f"SQLite driver {driver!r} is not supported; use 'sqlite:///path'")
        return parsed
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            return parsed.set(drivername="postgresql+psycopg")
        if driver != "psycopg":
            raise InvalidDatabaseURLError(
                f"PostgreSQL driver {driver!r} is not supported; use 'postgresql+psycopg://...'"
            )
        return parsed
    raise InvalidDatabaseURLError(
        f"database {backend!r} in DATABASE_URL is not supported; etcdops runs on SQLite or PostgreSQL"
    )


def make_engine(url: str | URL | None = None, *, echo: bool = False) -> Engine:
    """Build an engine for ``url`` (default: ``DATABASE_URL`` from the environment)."""
    parsed = parse_database_url(url if url is not None else database_url_from_env())
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, echo=echo, connect_args={"check_same_thread": False})
        _tune_sqlite(engine)
        return engine
    return create_engine(parsed, echo=echo, pool_pre_ping=True)


def _ensure_wal(cursor: Any) -> None:
    """Switch the file to WAL (a persistent setting), retrying while another connection holds it.

    Changing the journal mode needs the database to itself and does not wait on the busy timeout, so
    several processes opening a brand-new file at once would otherwise fail with "database is locked".
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode = WAL")  # an in-memory database keeps "memory": fine
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy (pysqlite would otherwise BEGIN lazily, and never
        # IMMEDIATE), then set the pragmas that make a file database safe for several threads.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        _ensure_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(IMMEDIATE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_session_factory(engine: Engine) -> SessionFactory:
    """Sessions whose objects stay readable after the service function committed them."""

    def factory() -> Session:
        return Session(engine, expire_on_commit=False)

    return factory


class WriterGate:
    """This process's queue for SQLite's single writer slot.

    SQLite lets one transaction write at a time; a writer that finds the slot taken sleeps in its busy
    handler in growing steps (up to 100 ms) and is not woken when the slot frees, so under a burst the
    unlucky wait seconds. Writers of one process queue here instead, first come first served, and the
    slot is handed straight to the next in line (no herd of waiters woken to fight for it); *urgent*
    writers — a Slack listener recording a run, which has 3 s to ack — are served before the runner's
    and the relay's, which have no deadline. Re-entrant per thread. Other processes on the same file
    still meet at SQLite's lock (the busy timeout).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._depth = 0
        self._urgent: collections.deque[tuple[int, threading.Event]] = collections.deque()
        self._normal: collections.deque[tuple[int, threading.Event]] = collections.deque()
        self.last_urgent = 0.0  # time.monotonic() of the last urgent writer's arrival

    def acquire(self, *, urgent: bool) -> None:
        me = threading.get_ident()
        with self._lock:
            if urgent:
                self.last_urgent = time.monotonic()
            if self._owner == me:
                self._depth += 1
                return
            if self._owner is None:
                self._owner, self._depth = me, 1
                return
            turn = threading.Event()
            (self._urgent if urgent else self._normal).append((me, turn))
        turn.wait()  # release() made this thread the owner before setting the event

    def release(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth:
                return
            queue = self._urgent or self._normal
            if not queue:
                self._owner = None
                return
            self._owner, turn = queue.popleft()
            self._depth = 1
        turn.set()


_GATES: weakref.WeakKeyDictionary[Engine, WriterGate] = weakref.WeakKeyDictionary()
_GATES_LOCK = threading.Lock()
_URGENT: contextvars.ContextVar[bool] = contextvars.ContextVar("etcdops_urgent_writes", default=False)


def _gate(session: Session) -> WriterGate | None:
    bind = session.get_bind()
    if not isinstance(bind, Engine) or bind.dialect.name != "sqlite":
        return None
    with _GATES_LOCK:
        return _GATES.setdefault(bind, WriterGate())


def seconds_since_urgent_write(session: Session) -> float:
    """How long ago this process last recorded something urgent (infinite when never, or not SQLite):
    background work can hold back while Slack acks are being recorded."""
    gate = _gate(session)
    if gate is None or not gate.last_urgent:
        return float("inf")
    return time.monotonic() - gate.last_urgent


@contextlib.contextmanager
def urgent_writes() -> Iterator[None]:
    """Writes made inside go first in this process (for work with a deadline, like a Slack ack)."""
    token = _URGENT.set(True)
    try:
        yield
    finally:
        _URGENT.reset(token)


@contextlib.contextmanager
def urgent_turn(sessions: SessionFactory) -> Iterator[None]:
    """All the block's database work — reads and writes — as one urgent writer turn on SQLite.

    For a Slack command: its few reads and one write take milliseconds, but twenty commands of a burst
    doing them at once fight over the GIL and the connection pool, and the unlucky ones wait ten times
    longer than the rest. Taking the writer slot for the whole block serves the burst in arrival order,
    one command at a time. The block must not wait on the network (a Slack or cluster call would hold
    every writer of the process). PostgreSQL, which has no writer slot, just gets urgent writes.
    """
    with urgent_writes():
        with sessions() as session:
            gate = _gate(session)
        if gate is None:
            yield
            return
        gate.acquire(urgent=True)
        try:
            yield
        finally:
            gate.release()


def begin_write(session: Session) -> None:
    """Start the session's transaction holding the write lock when the database needs it.

    On SQLite this is ``BEGIN IMMEDIATE``: the transaction owns the single writer slot from its first
    read, so a read-then-update (claim a run, count votes) cannot interleave with another writer.
    PostgreSQL needs nothing here; callers lock rows with ``FOR UPDATE`` instead. If the session is
    already inside a transaction it is committed first, because a transaction cannot be upgraded.
    """
    if session.in_transaction():
        outer = session.info.get(_ONE_TRANSACTION)
        if outer is not None and outer is session.get_transaction():
            return  # inside one_write_transaction: carry on in it
        session.commit()
    bind = session.get_bind()
    if isinstance(bind, Engine) and bind.dialect.name == "sqlite":
        session.connection(execution_options={IMMEDIATE_OPTION: True})


_ONE_TRANSACTION = "etcdops_one_write_transaction"


@contextlib.contextmanager
def one_write_transaction(session: Session) -> Iterator[None]:
    """The block's reads and writes as one write transaction, begun now: service functions called inside
    carry on in it instead of committing it first. A Slack command's lookups and its run then cost one
    transaction and one connection before the ack, not two. Rolled back if the block raises, committed
    at its end if still open (a service function inside may have committed it already). PostgreSQL,
    where every transaction may write, keeps each function's own transaction.
    """
    with _write_transaction(session, shared=True):
        yield


@contextlib.contextmanager
def _write_transaction(session: Session, *, shared: bool) -> Iterator[None]:
    """This process's writer slot, a transaction begun with :func:`begin_write`, rolled back if the
    block raises and committed at its end if still open. ``shared``: service functions inside carry on
    in it (see :func:`one_write_transaction`) instead of committing it first."""
    gate = _gate(session)
    if gate is not None:
        gate.acquire(urgent=_URGENT.get())
    try:
        begin_write(session)
        if shared:
            session.info[_ONE_TRANSACTION] = session.get_transaction()
        try:
            yield
        except BaseException:
            session.rollback()
            raise
        if session.in_transaction():
            session.commit()
    finally:
        if shared:
            session.info.pop(_ONE_TRANSACTION, None)
        if gate is not None:
            gate.release()


def writes(func: Callable[P, R]) -> Callable[P, R]:
    """Run a service function as one write transaction on its keyword-only ``session``.

    The transaction starts with :func:`begin_write` (so SQLite never fails upgrading a read lock to a
    write lock under concurrency: it waits for the busy timeout instead), is rolled back if the
    function raises (so a NotFoundError never leaves SQLite's write lock held), and is committed if
    the function left anything uncommitted. A caller's open transaction is committed first.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        session = kwargs.get("session")
        if not isinstance(session, Session):
            raise TypeError(f"{func.__qualname__} needs session=<a sqlmodel Session>")
        with _write_transaction(session, shared=False):
            return func(*args, **kwargs)

    return wrapper
