"""The step journal (attempts, started-but-unfinished steps) and the per-cluster lock."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage import journal, locks, runs
from storage.db import make_session_factory
from storage.models import StepStatus
from storage.timeline import events_for_run


def _run_id(session: Session, cluster: str = "prod") -> str:
    return runs.create_run(session=session, procedure="replace", cluster=cluster, requested_by="U1").id


def test_step_started_and_never_finished_is_reported_with_its_attempts(session: Session) -> None:
    run_id = _run_id(session)
    journal.start_step(run_id, 1, session=session, step_id="preflight", title="Preflight checks")
    journal.finish_step(run_id, 1, session=session, status=StepStatus.SUCCEEDED, output="ok")
    assert journal.unfinished_step(run_id, session=session) is None
    journal.start_step(
        run_id, 2, session=session, step_id="remove-member", title="Remove member", destructive=True
    )
    # the process dies here; after restart the runner asks what was left in flight
    unfinished = journal.unfinished_step(run_id, session=session)
    assert unfinished is not None
    assert (unfinished.seq, unfinished.step_id, unfinished.attempt) == (2, "remove-member", 1)
    assert unfinished.destructive and unfinished.finished_at is None

    again = journal.start_step(run_id, 2, session=session, step_id="remove-member", title="Remove member")
    assert again.attempt == 2 and again.status == StepStatus.STARTED
    journal.finish_step(run_id, 2, session=session, status=StepStatus.FAILED, error="member busy")
    steps = journal.steps_of(run_id, session=session)
    assert [(s.seq, s.status, s.attempt) for s in steps] == [(1, "succeeded", 1), (2, "failed", 2)]
    assert steps[0].output == "ok" and steps[1].error == "member busy"
    assert steps[1].started_at is not None and steps[1].finished_at is not None
    assert steps[1].finished_at >= steps[1].started_at
    kinds = [e.kind for e in events_for_run(run_id, session=session)]
    assert kinds == [
        "run.requested",
        "step.started",
        "step.succeeded",
        "step.started",
        "step.started",
        "step.failed",
    ]


def test_output_is_bounded_keeping_the_end(session: Session) -> None:
    run_id = _run_id(session)
    journal.start_step(run_id, 1, session=session, step_id="backup", title="Backup")
    huge = "x" * (journal.OUTPUT_LIMIT * 2) + "THE ERROR"
    step = journal.finish_step(run_id, 1, session=session, status=StepStatus.SUCCEEDED, output=huge)
    assert step.output is not None and len(step.output) == journal.OUTPUT_LIMIT
    assert step.output.endswith("THE ERROR") and step.output.startswith("…[output truncated")


def test_finish_needs_a_finished_status(session: Session) -> None:
    run_id = _run_id(session)
    journal.start_step(run_id, 1, session=session, step_id="a", title="A")
    with pytest.raises(ValueError, match="not a finished step status"):
        journal.finish_step(run_id, 1, session=session, status=StepStatus.STARTED)


def test_cluster_lock_is_exclusive_and_released(session: Session) -> None:
    first, second = _run_id(session), _run_id(session)
    assert locks.acquire_cluster_lock("prod", first, session=session)
    assert locks.acquire_cluster_lock("prod", first, session=session)  # re-acquire after a restart
    assert not locks.acquire_cluster_lock("prod", second, session=session)
    assert locks.acquire_cluster_lock("stage", second, session=session)
    holder = locks.cluster_lock_holder("prod", session=session)
    assert holder is not None and holder.run_id == first
    assert not locks.release_cluster_lock("prod", second, session=session)
    assert locks.release_cluster_lock("prod", first, session=session)
    assert locks.acquire_cluster_lock("prod", second, session=session)


def test_finishing_or_cancelling_a_run_releases_its_lock(session: Session) -> None:
    first, second = _run_id(session), _run_id(session)
    locks.acquire_cluster_lock("prod", first, session=session)
    runs.finish_run(first, session=session, succeeded=True)
    assert locks.acquire_cluster_lock("prod", second, session=session)
    runs.cancel_run(second, session=session, cancelled_by="U1")
    assert locks.cluster_lock_holder("prod", session=session) is None


def test_two_threads_race_for_the_lock_and_one_wins(
    session: Session, engine_factory: Callable[[], Engine]
) -> None:
    for attempt in range(5):
        cluster = f"c{attempt}"
        run_ids = [_run_id(session, cluster), _run_id(session, cluster)]
        start = threading.Barrier(2)
        won: list[bool] = []

        def take(
            engine: Engine,
            run_id: str,
            barrier: threading.Barrier = start,
            c: str = cluster,
            won: list[bool] = won,
        ) -> None:
            with make_session_factory(engine)() as own:
                barrier.wait()
                won.append(locks.acquire_cluster_lock(c, run_id, session=own))

        threads = [threading.Thread(target=take, args=(engine_factory(), rid)) for rid in run_ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(won) == [False, True]
