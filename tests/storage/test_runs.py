"""Runs: creation, listing, claiming with leases (also from two threads at once), finishing, cancelling."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from storage import runs
from storage.db import make_session_factory
from storage.errors import NotFoundError
from storage.models import Run, RunStatus, utcnow
from storage.timeline import events_for_run


def _new(session: Session, cluster: str = "prod") -> Run:
    return runs.create_run(
        session=session, procedure="backup", cluster=cluster, requested_by="U1", channel="C1"
    )


def test_create_run_records_request_and_event(session: Session) -> None:
    run = runs.create_run(
        session=session,
        procedure="replace",
        cluster="prod",
        requested_by="U1",
        channel="C1",
        params={"member": "master-1", "nested": {"ips": ["10.0.0.1"]}},
        destructive=True,
    )
    assert run.id.startswith("r-") and len(run.id) == 7
    fetched = runs.get_run(run.id, session=session)
    assert fetched.params == {"member": "master-1", "nested": {"ips": ["10.0.0.1"]}}
    assert fetched.status == RunStatus.PENDING and fetched.destructive
    assert fetched.created_at.tzinfo is not None and fetched.created_at.utcoffset() == dt.timedelta(0)
    [event] = events_for_run(run.id, session=session)
    assert event.kind == "run.requested" and event.actor == "U1"


def test_a_run_id_already_taken_is_drawn_again(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """IDs are not looked up before the insert (one statement less on a Slack ack): a taken one fails
    the insert, and another is drawn; a duplicate trigger still fails for the caller to handle."""
    taken = runs.create_run(session=session, procedure="status", cluster="prod", requested_by="U1")
    session.expunge(taken)  # recorded earlier, as by another command's session
    drawn = iter([taken.id, taken.id, "r-fresh"])
    monkeypatch.setattr(runs, "new_id", lambda prefix: next(drawn))
    run = runs.create_run(
        session=session, procedure="status", cluster="prod", requested_by="U2", trigger_id="T-9"
    )
    assert run.id == "r-fresh" and runs.get_run("r-fresh", session=session).requested_by == "U2"
    assert [e.kind for e in events_for_run("r-fresh", session=session)] == ["run.requested"]
    assert len(events_for_run(taken.id, session=session)) == 1, "the failed attempts left no event"

    monkeypatch.setattr(runs, "new_id", lambda prefix: "r-other")
    with pytest.raises(IntegrityError):
        runs.create_run(
            session=session, procedure="status", cluster="prod", requested_by="U2", trigger_id="T-9"
        )
    assert runs.run_for_trigger("T-9", session=session).id == "r-fresh"  # type: ignore[union-attr]


def test_list_runs_filters(session: Session) -> None:
    a = _new(session, "prod")
    b = _new(session, "stage")
    runs.cancel_run(b.id, session=session, cancelled_by="U2")
    assert {r.id for r in runs.list_runs(session=session)} == {a.id, b.id}
    assert [r.id for r in runs.list_runs(session=session, cluster="prod")] == [a.id]
    assert [r.id for r in runs.list_runs(session=session, status="cancelled")] == [b.id]
    assert [r.id for r in runs.list_runs(session=session, status=["pending", "running"])] == [a.id]


def test_claim_takes_oldest_pending_and_then_nothing(session: Session) -> None:
    first = _new(session)
    second = _new(session)
    claimed = runs.claim_next_run(session=session, worker="w1", lease_seconds=30)
    assert claimed is not None and claimed.id == first.id
    assert claimed.status == RunStatus.RUNNING and claimed.claimed_by == "w1"
    assert claimed.lease_until is not None and claimed.lease_until > utcnow()
    again = runs.claim_next_run(session=session, worker="w2", lease_seconds=30)
    assert again is not None and again.id == second.id
    assert runs.claim_next_run(session=session, worker="w3", lease_seconds=30) is None


def test_expired_lease_is_claimed_again_but_not_before(session: Session) -> None:
    run = _new(session)
    now = utcnow()
    assert runs.claim_next_run(session=session, worker="dead", lease_seconds=60, now=now) is not None
    assert (
        runs.claim_next_run(
            session=session, worker="w2", lease_seconds=60, now=now + dt.timedelta(seconds=59)
        )
        is None
    )
    taken = runs.claim_next_run(
        session=session, worker="w2", lease_seconds=60, now=now + dt.timedelta(seconds=61)
    )
    assert taken is not None and taken.id == run.id and taken.claimed_by == "w2"
    assert taken.status == RunStatus.RUNNING
    kinds = [e.kind for e in events_for_run(run.id, session=session)]
    assert kinds == ["run.requested", "run.started", "run.resumed"]
    assert not runs.renew_lease(run.id, session=session, worker="dead", lease_seconds=60)
    assert runs.renew_lease(run.id, session=session, worker="w2", lease_seconds=600)


def test_waiting_run_with_expired_lease_is_resumed_with_its_status(session: Session) -> None:
    run = _new(session)
    now = utcnow()
    runs.claim_next_run(session=session, worker="w1", lease_seconds=10, now=now)
    runs.set_run_status(run.id, RunStatus.WAITING_APPROVAL, session=session, plan_hash="ab" * 32)
    taken = runs.claim_next_run(
        session=session, worker="w2", lease_seconds=10, now=now + dt.timedelta(seconds=11)
    )
    assert taken is not None and taken.status == RunStatus.WAITING_APPROVAL and taken.plan_hash == "ab" * 32


def test_finished_runs_are_never_claimed(session: Session) -> None:
    run = _new(session)
    now = utcnow()
    runs.claim_next_run(session=session, worker="w1", lease_seconds=1, now=now)
    finished = runs.finish_run(run.id, session=session, succeeded=False, error="etcd unhealthy")
    assert finished.status == RunStatus.FAILED and finished.error == "etcd unhealthy"
    assert finished.finished_at is not None
    assert (
        runs.claim_next_run(session=session, worker="w2", lease_seconds=1, now=now + dt.timedelta(hours=1))
        is None
    )


def test_cancel_only_unfinished_runs_and_records_who(session: Session) -> None:
    run = _new(session)
    assert runs.cancel_run(run.id, session=session, cancelled_by="U9", reason="wrong cluster")
    cancelled = runs.get_run(run.id, session=session)
    assert cancelled.status == RunStatus.CANCELLED and cancelled.cancelled_by == "U9"
    assert not runs.cancel_run(run.id, session=session, cancelled_by="U8")
    assert runs.get_run(run.id, session=session).cancelled_by == "U9"
    done = _new(session)
    runs.finish_run(done.id, session=session, succeeded=True)
    assert not runs.cancel_run(done.id, session=session, cancelled_by="U9")


def _claim_all(engine: Engine, worker: str, start: threading.Barrier, out: list[str]) -> None:
    factory = make_session_factory(engine)
    start.wait()
    while True:
        with factory() as session:
            run = runs.claim_next_run(session=session, worker=worker, lease_seconds=60)
        if run is None:
            return
        out.append(run.id)


def test_two_workers_never_claim_the_same_run(session: Session, engine_factory: Callable[[], Engine]) -> None:
    created = {_new(session).id for _ in range(12)}
    start = threading.Barrier(2)
    claimed: dict[str, list[str]] = {"a": [], "b": []}
    threads = [
        threading.Thread(target=_claim_all, args=(engine_factory(), name, start, claimed[name]))
        for name in claimed
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not set(claimed["a"]) & set(claimed["b"])
    assert sorted(claimed["a"] + claimed["b"]) == sorted(created)
    for run_id in created:
        run = runs.get_run(run_id, session=session)
        assert run.claimed_by == ("a" if run_id in claimed["a"] else "b")


def test_racing_for_a_single_run_has_one_winner(
    session: Session, engine_factory: Callable[[], Engine]
) -> None:
    for _ in range(5):
        _new(session)
        start = threading.Barrier(2)
        results: list[str | None] = []

        def claim(
            engine: Engine,
            worker: str,
            barrier: threading.Barrier = start,
            results: list[str | None] = results,
        ) -> None:
            with make_session_factory(engine)() as own:
                barrier.wait()
                run = runs.claim_next_run(session=own, worker=worker, lease_seconds=60)
                results.append(run.id if run else None)

        threads = [threading.Thread(target=claim, args=(engine_factory(), w)) for w in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(results) == 2 and results.count(None) == 1


def test_set_run_status_only_moves_active_runs_between_active_states(session: Session) -> None:
    run = _new(session)
    with pytest.raises(ValueError, match="finish_run"):
        runs.set_run_status(run.id, RunStatus.SUCCEEDED, session=session)
    runs.finish_run(run.id, session=session, succeeded=True)
    with pytest.raises(ValueError, match="already succeeded"):
        runs.set_run_status(run.id, RunStatus.RUNNING, session=session)
    with pytest.raises(NotFoundError):
        runs.get_run("r-zzzzz", session=session)
