"""Writers in several threads at once: no "database is locked", no event skipped by the relay's cursor."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage import journal, runs, timeline
from storage.db import make_session_factory
from storage.errors import NotFoundError
from storage.models import StepStatus


def test_busy_writers_in_threads_all_succeed(session: Session, engine_factory: Callable[[], Engine]) -> None:
    """Each thread reads, then writes (create, journal, finish): SQLite must wait, never fail."""
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def work(engine: Engine, worker: str) -> None:
        try:
            with make_session_factory(engine)() as own:
                start.wait()
                for i in range(5):
                    run = runs.create_run(session=own, procedure="status", cluster=worker, requested_by="U1")
                    journal.start_step(run.id, 1, session=own, step_id="s", title="Step")
                    journal.finish_step(run.id, 1, session=own, status=StepStatus.SUCCEEDED, output=str(i))
                    runs.finish_run(run.id, session=own, succeeded=True)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(engine_factory(), f"c{n}")) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(runs.list_runs(session=session, status="succeeded")) == 20


def test_a_slow_event_transaction_is_not_skipped_by_the_cursor(
    session: Session, engine_factory: Callable[[], Engine]
) -> None:
    """A transaction that got its event id first but commits last must not be jumped over."""
    cursor = timeline.append_event(session=session, kind="note", summary="before").id or 0
    slow_has_id = threading.Event()
    release_slow = threading.Event()
    errors: list[BaseException] = []

    def slow(engine: Engine) -> None:
        try:
            with make_session_factory(engine)() as own:
                timeline.add_event(session=own, kind="slow", summary="slow writer")
                own.flush()
                slow_has_id.set()
                release_slow.wait(10)
                own.commit()
        except BaseException as exc:
            errors.append(exc)

    def fast(engine: Engine) -> None:
        try:
            with make_session_factory(engine)() as own:
                timeline.append_event(session=own, kind="fast", summary="fast writer")
        except BaseException as exc:
            errors.append(exc)

    slow_thread = threading.Thread(target=slow, args=(engine_factory(),))
    slow_thread.start()
    assert slow_has_id.wait(10)
    fast_thread = threading.Thread(target=fast, args=(engine_factory(),))
    fast_thread.start()
    fast_thread.join(0.3)  # the fast writer must wait for the slow one (it cannot commit first)
    seen = [e.kind for e in timeline.events_since(cursor, session=session)]
    session.commit()
    release_slow.set()
    slow_thread.join(10)
    fast_thread.join(10)
    assert errors == []
    assert seen in ([], ["slow"])
    assert [e.kind for e in timeline.events_since(cursor, session=session)] == ["slow", "fast"]


def test_a_failed_write_releases_the_database(session: Session, engine_factory: Callable[[], Engine]) -> None:
    with pytest.raises(NotFoundError):
        runs.finish_run("r-nope1", session=session, succeeded=True)
    # the failed call must not keep SQLite's write lock: another engine writes at once
    with make_session_factory(engine_factory())() as other:
        assert runs.create_run(session=other, procedure="status", cluster="prod", requested_by="U1").id


def test_one_write_transaction_holds_a_commands_lookups_and_its_run(
    session: Session, engine_factory: Callable[[], Engine]
) -> None:
    """What a Slack command records before its ack: the lookups and the run in one transaction (on
    SQLite one BEGIN IMMEDIATE, nothing committed in between); a block that fails leaves nothing."""
    from sqlalchemy import event

    from storage.channels import channel_default
    from storage.db import one_write_transaction

    engine = engine_factory()
    sessions = make_session_factory(engine)
    begun: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, *_: begun.append(sql))
    with sessions() as mine, one_write_transaction(mine):
        assert channel_default("C-ops", session=mine) is None
        run = runs.create_run(
            session=mine, procedure="status", cluster="prod", requested_by="U1", channel="C-ops"
        )
    if engine.dialect.name == "sqlite":
        assert [sql for sql in begun if sql.startswith("BEGIN")] == ["BEGIN IMMEDIATE"]
    assert runs.get_run(run.id, session=session).procedure == "status"

    with pytest.raises(RuntimeError), sessions() as mine, one_write_transaction(mine):
        timeline.add_event(session=mine, kind="incident.note", summary="never kept", cluster="prod")
        raise RuntimeError("the command failed before anything was committed")
    assert not [e for e in timeline.events_since(0, session=session) if e.summary == "never kept"]
