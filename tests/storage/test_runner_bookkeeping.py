"""What the runner and the relay keep in the database besides the journal itself: the plan shown before
a run starts, a restarted worker getting its runs back at once, a cancel that a finishing step cannot
overwrite, the relay's cursor, and the rules checked before a run exists (on SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from runner.submit import Refused, submit_run
from storage import cursors, journal, locks, runs
from storage.models import Run, RunStatus, StepStatus
from storage.timeline import events_for_run

PLAN = [("preflight", "Preflight", False), ("snapshot", "Snapshot", False), ("copy", "Copy off", False)]


def test_the_plan_is_journaled_as_pending_steps_once(session: Session) -> None:
    run_id = runs.create_run(session=session, procedure="backup", cluster="prod", requested_by="U1").id
    assert journal.plan_steps(run_id, PLAN, session=session)
    journal.start_step(run_id, 1, session=session, step_id="preflight", title="Preflight")
    journal.finish_step(run_id, 1, session=session, status=StepStatus.SUCCEEDED, output="{}")
    assert not journal.plan_steps(run_id, PLAN, session=session), "a resumed run keeps its journal"
    steps = journal.steps_of(run_id, session=session)
    assert [(s.step_id, s.status, s.attempt) for s in steps] == [
        ("preflight", "succeeded", 1),
        ("snapshot", "pending", 0),
        ("copy", "pending", 0),
    ]
    kinds = [e.kind for e in events_for_run(run_id, session=session)]
    assert kinds.count("run.planned") == 1


def test_a_restarted_worker_takes_its_runs_back_without_waiting_for_the_lease(session: Session) -> None:
    run_id = runs.create_run(session=session, procedure="backup", cluster="prod", requested_by="U1").id
    claimed = runs.claim_next_run(session=session, worker="w1", lease_seconds=3600)
    assert claimed is not None and claimed.id == run_id
    assert runs.claim_next_run(session=session, worker="w1", lease_seconds=3600) is None
    assert runs.release_claims_of("w2", session=session) == []
    assert runs.release_claims_of("w1", session=session) == [run_id]
    again = runs.claim_next_run(session=session, worker="w1", lease_seconds=3600)
    assert again is not None and again.id == run_id and again.status == RunStatus.RUNNING
    assert [e.kind for e in events_for_run(run_id, session=session)][-1] == "run.resumed"


def test_a_step_finishing_after_a_cancel_does_not_overwrite_it(session: Session) -> None:
    run_id = runs.create_run(session=session, procedure="backup", cluster="prod", requested_by="U1").id
    runs.claim_next_run(session=session, worker="w1", lease_seconds=60)
    assert runs.cancel_run(run_id, session=session, cancelled_by="U2")
    runs.finish_run(run_id, session=session, succeeded=False, error="step 2 failed", result=None)
    run = runs.get_run(run_id, session=session)
    assert run.status == RunStatus.CANCELLED and run.cancelled_by == "U2" and run.error is None
    runs.finish_run(run_id, session=session, succeeded=True, result="done")
    assert runs.get_run(run_id, session=session).status == RunStatus.CANCELLED


def test_a_finished_run_keeps_its_one_line_result(session: Session) -> None:
    run_id = runs.create_run(session=session, procedure="backup", cluster="prod", requested_by="U1").id
    runs.finish_run(run_id, session=session, succeeded=True, result="backup snapshot_x.db stored")
    assert runs.get_run(run_id, session=session).result == "backup snapshot_x.db stored"


def test_the_relay_cursor_only_moves_forward(session: Session) -> None:
    assert cursors.cursor_position("slack", session=session) == 0
    cursors.save_cursor("slack", 42, session=session)
    cursors.save_cursor("slack", 7, session=session)
    assert cursors.cursor_position("slack", session=session) == 42
    assert cursors.cursor_position("other", session=session) == 0


def test_one_backup_at_a_time_per_cluster(session: Session) -> None:
    first = submit_run(session=session, procedure="backup", cluster="prod", requested_by="U1")
    assert isinstance(first, Run)
    second = submit_run(session=session, procedure="backup", cluster="prod", requested_by="U2")
    assert isinstance(second, Refused) and f"`/etcd cancel {first.id}`" in second.reason
    assert isinstance(submit_run(session=session, procedure="backup", cluster="dev", requested_by="U2"), Run)
    assert isinstance(submit_run(session=session, procedure="status", cluster="prod", requested_by="U2"), Run)
    runs.finish_run(first.id, session=session, succeeded=True)
    assert isinstance(submit_run(session=session, procedure="backup", cluster="prod", requested_by="U2"), Run)


def test_one_destructive_run_per_cluster(session: Session) -> None:
    first = submit_run(
        session=session, procedure="replace", cluster="prod", requested_by="U1", destructive=True
    )
    assert isinstance(first, Run)
    assert locks.cluster_lock_holder("prod", session=session).run_id == first.id  # type: ignore[union-attr]
    second = submit_run(
        session=session, procedure="restore", cluster="prod", requested_by="U2", destructive=True
    )
    assert isinstance(second, Refused) and first.id in second.reason
    refused = [r for r in runs.list_runs(session=session, cluster="prod") if r.id != first.id]
    assert [r.status for r in refused] == [RunStatus.CANCELLED], "the refused run is not left pending"
    runs.finish_run(first.id, session=session, succeeded=True)
    assert locks.cluster_lock_holder("prod", session=session) is None
    third = submit_run(
        session=session, procedure="restore", cluster="prod", requested_by="U2", destructive=True
    )
    assert isinstance(third, Run)


def test_a_command_delivered_twice_records_one_run(session: Session) -> None:
    """Slack delivers an unacknowledged command again, possibly to another replica: the second
    delivery gets the first one's run (or its refusal), and nothing is started twice."""
    first = submit_run(
        session=session, procedure="backup", cluster="prod", requested_by="U1", trigger_id="T-1"
    )
    again = submit_run(
        session=session, procedure="backup", cluster="prod", requested_by="U1", trigger_id="T-1"
    )
    assert isinstance(first, Run) and isinstance(again, Run) and again.id == first.id
    other = submit_run(
        session=session, procedure="backup", cluster="prod", requested_by="U1", trigger_id="T-2"
    )
    assert isinstance(other, Refused), "a different command is a new request: one backup at a time"
    assert len(runs.list_runs(session=session, cluster="prod")) == 1

    holder = submit_run(
        session=session, procedure="replace", cluster="dev", requested_by="U1", destructive=True
    )
    assert isinstance(holder, Run)
    refused, retried = (
        submit_run(
            session=session,
            procedure="restore",
            cluster="dev",
            requested_by="U2",
            destructive=True,
            trigger_id="T-3",
        )
        for _ in range(2)
    )
    assert isinstance(refused, Refused) and isinstance(retried, Refused) and holder.id in retried.reason
    assert len(runs.list_runs(session=session, cluster="dev")) == 2, "the refused command's one cancelled run"


def test_the_database_keeps_one_run_per_command(session: Session) -> None:
    """Two replicas that both looked and found no run for the trigger both insert: the database keeps
    one (the loser's insert fails, and submit_run answers with the winner's run)."""

    def status_run(trigger_id: str | None) -> Run:
        return runs.create_run(
            session=session, procedure="status", cluster="prod", requested_by="U1", trigger_id=trigger_id
        )

    status_run("T-9")
    with pytest.raises(IntegrityError):
        status_run("T-9")
    session.rollback()
    status_run(None)
    status_run(None)  # runs no command asked for (schedules, prunes) have no trigger, and many may
    assert len(runs.list_runs(session=session, cluster="prod")) == 3
