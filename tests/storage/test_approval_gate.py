"""The approval gate in the engine, on a real database (SQLite and PostgreSQL): a destructive step waits
for N distinct approvers, runs once approved, never after a rejection or an expiry, and a plan that changed
between approval and execution voids the approvals and asks again. Votes go through storage.approvals,
as the Slack buttons do."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine as SqlEngine

from runner.approvals import ApprovalGate, Policy
from runner.engine import Engine
from runner.steps import StepContext, StepSpec
from storage import approvals, runs
from storage.db import SessionFactory, make_session_factory
from storage.models import RunStatus, VoteDecision
from storage.timeline import events_for_run


class RemoveMember:
    """A procedure with one destructive step whose plan names the member it removes."""

    name = "replace"
    destructive = True
    adaptive = False

    def __init__(self, target: list[str], done: list[str]) -> None:
        self.target = target  # what the live facts say right now
        self.done = done

    def steps(self, context: StepContext) -> list[StepSpec]:
        def remove(ctx: StepContext) -> dict[str, Any]:
            self.done.append(self.target[0])
            return {"removed": self.target[0]}

        def describe(ctx: StepContext) -> dict[str, Any]:
            return {"commands": [f"etcdctl member remove {self.target[0]}"]}

        return [
            StepSpec("remove", "Remove the member", remove, approval="member_removal", describe=describe),
        ]

    def summary(self, context: StepContext) -> str:
        return "replaced"


def _start(
    sessions: SessionFactory, procedure: RemoveMember, expiry: int = 600
) -> tuple[str, threading.Thread]:
    gate = ApprovalGate(sessions, lambda cluster, action: Policy(2, expiry), poll_interval=0.05)
    with sessions() as session:
        run_id = runs.create_run(
            session=session, procedure="replace", cluster="prod", requested_by="alice", destructive=True
        ).id
    engine = Engine(sessions, {"replace": procedure}, "w1", approvals=gate)
    worker = threading.Thread(target=engine.run_once)
    worker.start()
    return run_id, worker


def _wait(what: str, check: Callable[[], Any], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _request(sessions: SessionFactory, run_id: str) -> int:
    def find() -> int | None:
        with sessions() as session:
            latest = approvals.latest_approval(run_id, 1, session=session)
            return latest.id if latest else None

    approval_id: int = _wait("the approval request", find)
    return approval_id


def _vote(sessions: SessionFactory, approval_id: int, user: str, decision: VoteDecision) -> str:
    with sessions() as session:
        return approvals.record_vote(approval_id, user, decision, session=session).outcome.value


def _status(sessions: SessionFactory, run_id: str) -> str:
    with sessions() as session:
        return runs.get_run(run_id, session=session).status


def test_two_distinct_approvers_let_the_step_run_once(engine: SqlEngine) -> None:
    sessions = make_session_factory(engine)
    done: list[str] = []
    run_id, worker = _start(sessions, RemoveMember(["8e4a1f"], done))
    approval_id = _request(sessions, run_id)
    _wait("the run to wait", lambda: _status(sessions, run_id) == RunStatus.WAITING_APPROVAL)
    assert _vote(sessions, approval_id, "alice", VoteDecision.APPROVE) == "self_approval"
    assert _vote(sessions, approval_id, "bob", VoteDecision.APPROVE) == "counted"
    assert _vote(sessions, approval_id, "bob", VoteDecision.APPROVE) == "duplicate"
    time.sleep(0.3)
    assert done == [], "one approval of two does not let anything run"
    assert _vote(sessions, approval_id, "carol", VoteDecision.APPROVE) == "counted"
    worker.join(10)
    assert done == ["8e4a1f"] and _status(sessions, run_id) == RunStatus.SUCCEEDED
    with sessions() as session:
        kinds = [e.kind for e in events_for_run(run_id, session=session)]
        (requested,) = [e for e in events_for_run(run_id, session=session) if e.kind == "approval.requested"]
    assert requested.details["plan"] == {"commands": ["etcdctl member remove 8e4a1f"]}
    assert kinds.index("approval.granted") < kinds.index("step.started")


def test_one_rejection_ends_the_run_with_nothing_done(engine: SqlEngine) -> None:
    sessions = make_session_factory(engine)
    done: list[str] = []
    run_id, worker = _start(sessions, RemoveMember(["8e4a1f"], done))
    approval_id = _request(sessions, run_id)
    assert _vote(sessions, approval_id, "bob", VoteDecision.APPROVE) == "counted"
    assert _vote(sessions, approval_id, "carol", VoteDecision.REJECT) == "counted"
    worker.join(10)
    with sessions() as session:
        run = runs.get_run(run_id, session=session)
    assert done == [] and run.status == RunStatus.FAILED and "rejected by <@carol>" in (run.error or "")


def test_an_expired_request_ends_the_run_and_says_so(engine: SqlEngine) -> None:
    sessions = make_session_factory(engine)
    done: list[str] = []
    run_id, worker = _start(sessions, RemoveMember(["8e4a1f"], done), expiry=1)
    approval_id = _request(sessions, run_id)
    assert _vote(sessions, approval_id, "bob", VoteDecision.APPROVE) == "counted"
    worker.join(10)
    # The run has ended of the expiry; a late click is told the request expired, and still counts for nothing.
    assert _vote(sessions, approval_id, "carol", VoteDecision.APPROVE) == "expired"
    with sessions() as session:
        run = runs.get_run(run_id, session=session)
        kinds = [e.kind for e in events_for_run(run_id, session=session)]
    assert done == [] and run.status == RunStatus.FAILED and "expired with 1 of 2" in (run.error or "")
    assert kinds.count("approval.expired") == 1


def test_a_plan_that_changed_after_approval_voids_it_and_asks_again(engine: SqlEngine) -> None:
    sessions = make_session_factory(engine)
    done: list[str] = []
    facts = ["8e4a1f"]
    run_id, worker = _start(sessions, RemoveMember(facts, done))
    first = _request(sessions, run_id)
    assert _vote(sessions, first, "bob", VoteDecision.APPROVE) == "counted"
    facts[0] = "c0ffee"  # the machine was recreated: another member ID
    assert _vote(sessions, first, "carol", VoteDecision.APPROVE) == "counted"

    def second_request() -> int | None:
        with sessions() as session:
            latest = approvals.latest_approval(run_id, 1, session=session)
            return latest.id if latest and latest.id != first else None

    second: int = _wait("a new request", second_request)
    assert done == [], "nothing ran on the approvals of the old plan"
    assert _vote(sessions, first, "dave", VoteDecision.APPROVE) == "voided"
    assert _vote(sessions, second, "bob", VoteDecision.APPROVE) == "counted"
    assert _vote(sessions, second, "carol", VoteDecision.APPROVE) == "counted"
    worker.join(10)
    assert done == ["c0ffee"] and _status(sessions, run_id) == RunStatus.SUCCEEDED
