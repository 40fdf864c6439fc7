"""The engine on a real database (SQLite and PostgreSQL), with procedures made of plain steps: the lease
kept alive through a long step, a plan that cannot be made, a cancel between steps, the plan journaled
before anything runs, and the runner service resuming its own runs after a restart."""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy.engine import Engine as SqlEngine

from runner.engine import Engine
from runner.service import RunnerService
from runner.steps import StepContext, StepFailed, StepSpec
from storage import journal, runs
from storage.db import make_session_factory
from storage.models import RunStatus


class Steps:
    """A procedure whose steps are given as (id, function) pairs."""

    destructive = False
    adaptive = False

    def __init__(self, name: str, *steps: tuple[str, Any], attempts: int = 1) -> None:
        self.name = name
        self._steps = steps
        self._attempts = attempts

    def steps(self, context: StepContext) -> list[StepSpec]:
        return [StepSpec(i, i.title(), fn, attempts=self._attempts) for i, fn in self._steps]

    def summary(self, context: StepContext) -> str:
        return f"{self.name} done: {sorted(context.results)}"


def test_a_long_step_keeps_its_lease_and_the_run_is_not_taken_over(engine: SqlEngine) -> None:
    sessions = make_session_factory(engine)
    started = threading.Event()

    def slow(ctx: StepContext) -> dict[str, Any]:
        started.set()
        time.sleep(1.5)
        return {"slept": 1.5}

    procedure = Steps("slow", ("sleep", slow))
    with sessions() as session:
        run_id = runs.create_run(session=session, procedure="slow", cluster="c", requested_by="U1").id
    first = Engine(sessions, {"slow": procedure}, "w1", lease_seconds=0.4)
    worker = threading.Thread(target=first.run_once)
    worker.start()
    assert started.wait(10)
    other = Engine(sessions, {"slow": procedure}, "w2", lease_seconds=0.4)
    deadline = time.monotonic() + 1.2
    while time.monotonic() < deadline:
        assert other.run_once() is None, "a run whose step is still working was taken over"
        time.sleep(0.1)
    worker.join(10)
    with sessions() as session:
        run = runs.get_run(run_id, session=session)
        assert run.status == RunStatus.SUCCEEDED and run.claimed_by == "w1"
        assert run.result == "slow done: ['sleep']"


def test_a_plan_that_cannot_be_made_fails_the_run_with_the_reason(engine: SqlEngine) -> None:
    sessions = make_session_factory(engine)

    class Unplannable(Steps):
        def steps(self, context: StepContext) -> list[StepSpec]:
            raise KeyError("no cluster named 'gone'")

    with sessions() as session:
        run_id = runs.create_run(session=session, procedure="x", cluster="gone", requested_by="U1").id
    assert Engine(sessions, {"x": Unplannable("x")}, "w1").run_once() == run_id
    with sessions() as session:
        run = runs.get_run(run_id, session=session)
    assert (
        run.status == RunStatus.FAILED
        and "cannot plan x" in (run.error or "")
        and "gone" in (run.error or "")
    )


def test_the_plan_is_shown_first_and_a_cancel_stops_the_run_between_steps(engine: SqlEngine) -> None:
    sessions = make_session_factory(engine)
    seen: list[list[str]] = []
    ran: list[str] = []

    def first(ctx: StepContext) -> dict[str, Any]:
        with sessions() as session:
            seen.append([s.status for s in journal.steps_of(ctx.run_id, session=session)])
            runs.cancel_run(ctx.run_id, session=session, cancelled_by="U2")
        ran.append("first")
        return {}

    def second(ctx: StepContext) -> dict[str, Any]:
        ran.append("second")
        return {}

    with sessions() as session:
        run_id = runs.create_run(session=session, procedure="two", cluster="c", requested_by="U1").id
    Engine(sessions, {"two": Steps("two", ("first", first), ("second", second))}, "w1").run_once()
    assert seen == [["started", "pending"]], "both steps were journaled before the first ran"
    assert ran == ["first"]
    with sessions() as session:
        run = runs.get_run(run_id, session=session)
        assert run.status == RunStatus.CANCELLED and run.cancelled_by == "U2"
        assert [s.status for s in journal.steps_of(run_id, session=session)] == ["succeeded", "pending"]


def test_the_service_resumes_its_own_runs_at_once_after_a_restart(engine: SqlEngine) -> None:
    sessions = make_session_factory(engine)
    attempts: list[int] = []

    def flaky(ctx: StepContext) -> dict[str, Any]:
        attempts.append(1)
        if len(attempts) == 1:
            raise StepFailed("the API is restarting", retryable=True)
        return {"ok": True}

    with sessions() as session:
        run_id = runs.create_run(session=session, procedure="p", cluster="c", requested_by="U1").id
        # an earlier process of this worker claimed it with a long lease, then died
        runs.claim_next_run(session=session, worker="w1", lease_seconds=3600)
    procedure = Steps("p", ("flaky", flaky), attempts=3)
    service = RunnerService(Engine(sessions, {"p": procedure}, "w1", backoff_max=0.1), workers=1).start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with sessions() as session:
                if runs.get_run(run_id, session=session).status == RunStatus.SUCCEEDED:
                    break
            time.sleep(0.05)
    finally:
        service.stop()
    with sessions() as session:
        assert runs.get_run(run_id, session=session).status == RunStatus.SUCCEEDED
    assert len(attempts) == 2, "a transient failure was retried once"


def test_an_adaptive_procedure_grows_its_plan_from_what_the_first_step_found(engine: SqlEngine) -> None:
    sessions = make_session_factory(engine)
    ran: list[str] = []

    class Adaptive:
        name, destructive, adaptive = "grow", False, True

        def steps(self, context: StepContext) -> list[StepSpec]:
            def look(ctx: StepContext) -> dict[str, Any]:
                ran.append("look")
                return {"found": "crashloop"}

            def act(ctx: StepContext) -> dict[str, Any]:
                ran.append(f"act on {ctx.results['look']['found']}")
                return {}

            first = StepSpec("look", "Look", look, attempts=1)
            if "look" not in context.results:
                return [first]
            return [first, StepSpec("act", "Act", act, attempts=1)]

        def summary(self, context: StepContext) -> str:
            return "grown"

    with sessions() as session:
        run_id = runs.create_run(session=session, procedure="grow", cluster="c", requested_by="U1").id
    Engine(sessions, {"grow": Adaptive()}, "w1").run_once()
    assert ran == ["look", "act on crashloop"]
    with sessions() as session:
        assert runs.get_run(run_id, session=session).status == RunStatus.SUCCEEDED
        assert [s.step_id for s in journal.steps_of(run_id, session=session)] == ["look", "act"]
