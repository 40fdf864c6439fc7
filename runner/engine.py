"""The runner's engine: claim a run, replay its journal, execute the remaining steps, never redo blindly.

On every start of a run (first time or after the process was killed) the engine walks the procedure's
steps in order:

- a step the journal says succeeded is not run again: its recorded result is replayed;
- a step that was started but never recorded finished is probed against live state: DONE records it
  with the probe's result, REDO runs it again, ASK stops the run for a person to look;
- any other step runs, with retries and exponential back-off for transient errors.

Results are JSON in the journal, so a resumed run continues with exactly what the earlier steps found.
Cancellation is checked between steps; the lease is renewed while a step runs.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from runner import log_context
from runner.approvals import ApprovalGate, RunCancelled, RunnerStopping
from runner.steps import Probe, Procedure, StepContext, StepFailed, StepSpec
from storage import journal, metrics, runs
from storage.models import Run, RunStatus, StepStatus

log = logging.getLogger(__name__)


def _transient(exc: BaseException) -> bool:
    return bool(getattr(exc, "retryable", False))


@dataclass
class Engine:
    """Executes runs for the procedures it knows; ``sessions`` makes a database session per call."""

    sessions: Callable[[], Session]
    procedures: Mapping[str, Procedure]
    worker: str
    lease_seconds: float = 60.0
    backoff_max: float = 8.0
    kill_after_step: str | None = None
    approvals: ApprovalGate | None = None

    def run_once(self) -> str | None:
        """Claim and execute one run; returns its id, or None when nothing was waiting."""
        with self.sessions() as session:
            # A plain read first: idle workers polling must not queue for the write lock each time.
            if not runs.has_claimable_run(session=session):
                return None
            run = runs.claim_next_run(session=session, worker=self.worker, lease_seconds=self.lease_seconds)
            if run is None:
                return None
            run_id = run.id
        self.execute(run_id)
        return run_id

    def execute(self, run_id: str) -> None:
        # In a copy of the context: the run's log fields are bound only while it executes.
        contextvars.copy_context().run(self._execute, run_id)

    def _execute(self, run_id: str) -> None:
        with self.sessions() as session:
            run = runs.get_run(run_id, session=session)
            log_context.bind(run_id=run.id, cluster=run.cluster, procedure=run.procedure)
            procedure = self.procedures.get(run.procedure)
            if procedure is None:
                _count(
                    runs.finish_run(
                        run_id,
                        session=session,
                        succeeded=False,
                        error=f"this runner does not know the procedure {run.procedure!r}",
                    )
                )
                return
            context = StepContext(run_id=run.id, cluster=run.cluster, params=dict(run.params or {}))
            recorded = {s.seq: s for s in journal.steps_of(run_id, session=session)}
        plan = self._plan(procedure, context)
        seq = 0
        while plan is not None:
            if seq > 0 and procedure.adaptive:
                # What the earlier steps found may extend the plan (a diagnosis choosing the procedure).
                plan = self._plan(procedure, context)
                if plan is None:
                    return
            if seq >= len(plan):
                break
            spec = plan[seq]
            seq += 1
            if self._cancelled(run_id):
                log.info("run %s was cancelled before step %s", run_id, seq)
                metrics.run_finished(procedure.name, RunStatus.CANCELLED.value)
                return
            row = recorded.get(seq)
            if row is not None and row.status == StepStatus.SUCCEEDED:
                context.results[spec.id] = json.loads(row.output or "{}")
                continue
            if row is not None and row.status == StepStatus.STARTED and spec.probe is not None:
                verdict = spec.probe(context)
                log.info(
                    "run %s step %s was interrupted; probe says %s: %s",
                    run_id,
                    seq,
                    verdict.verdict,
                    verdict.reason,
                )
                if verdict.verdict is Probe.DONE:
                    result = verdict.result or {}
                    self._finish_step(run_id, seq, StepStatus.SUCCEEDED, json.dumps(result))
                    context.results[spec.id] = result
                    continue
                if verdict.verdict is Probe.ASK:
                    self._fail(
                        run_id,
                        f"step {seq} ({spec.title}) was interrupted and needs a person: {verdict.reason}",
                    )
                    return
            if spec.approval is not None and (row is None or row.status == StepStatus.PENDING):
                if self.approvals is None:
                    self._fail(run_id, f"step {seq} ({spec.title}) needs approval, and no gate is set up")
                    return
                try:
                    with self._heartbeat(run_id):
                        self.approvals.wait(procedure.name, seq, spec, context)
                except RunCancelled:
                    log.info("run %s was cancelled while waiting for approval of step %s", run_id, seq)
                    metrics.run_finished(procedure.name, RunStatus.CANCELLED.value)
                    return
                except RunnerStopping:
                    log.info("run %s: stopping while it waits for approval; a restart resumes it", run_id)
                    return
                except StepFailed as exc:
                    self._fail(run_id, str(exc))
                    return
            outcome = self._run_step(run_id, seq, spec, context, procedure.name)
            if outcome is None:
                return
            context.results[spec.id] = outcome
        if plan is None:
            return
        summary = procedure.summary(context)
        log_context.bind(step=None)
        with self.sessions() as session:
            run = runs.finish_run(run_id, session=session, succeeded=True, worker=self.worker, result=summary)
        _count(run)
        log.info("run %s succeeded: %s", run_id, summary)

    def _plan(self, procedure: Procedure, context: StepContext) -> list[StepSpec] | None:
        """The procedure's steps for what is known so far, journaled as pending; None if it cannot plan
        (the run is then failed with the reason)."""
        try:
            plan = procedure.steps(context)
        except Exception as exc:  # a plan that cannot be made ends the run with the reason, not a crash
            self._fail(context.run_id, f"cannot plan {procedure.name}: {exc}")
            return None
        with self.sessions() as session:
            planned = [(s.id, s.title, s.destructive) for s in plan]
            journal.plan_steps(context.run_id, planned, session=session)
        return plan

    def _run_step(
        self, run_id: str, seq: int, spec: StepSpec, context: StepContext, procedure: str
    ) -> dict[str, Any] | None:
        log_context.bind(step=spec.id)
        with self.sessions() as session:
            journal.start_step(
                run_id, seq, session=session, step_id=spec.id, title=spec.title, destructive=spec.destructive
            )
        retrying = Retrying(
            stop=stop_after_attempt(max(1, spec.attempts)),
            wait=wait_exponential(multiplier=0.5, max=self.backoff_max),
            retry=retry_if_exception(_transient),
            reraise=True,
        )
        started = time.monotonic()
        try:
            with self._heartbeat(run_id):
                result = retrying(spec.execute, context)
        except (StepFailed, RetryError, Exception) as exc:  # a step's failure ends its run, whatever it is
            metrics.step_took(procedure, spec.id, time.monotonic() - started)
            message = str(exc) or type(exc).__name__
            self._finish_step(run_id, seq, StepStatus.FAILED, None, message)
            self._fail(run_id, f"step {seq} ({spec.title}) failed: {message}")
            return None
        metrics.step_took(procedure, spec.id, time.monotonic() - started)
        if spec.id == self.kill_after_step:
            # Rehearsing a crash: the step's work is done and not yet journaled, the worst moment.
            log.warning("run %s: killing this process after step %s, as configured", run_id, spec.id)
            os.kill(os.getpid(), signal.SIGKILL)
        self._finish_step(run_id, seq, StepStatus.SUCCEEDED, json.dumps(result))
        return result

    @contextlib.contextmanager
    def _heartbeat(self, run_id: str) -> Iterator[None]:
        """Keep the run's lease alive while a long step (a large snapshot, a restore) is running, so no
        other runner takes over a run that is merely slow; a killed process stops renewing at once."""
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(self.lease_seconds / 3):
                try:
                    with self.sessions() as session:
                        runs.renew_lease(
                            run_id, session=session, worker=self.worker, lease_seconds=self.lease_seconds
                        )
                except Exception:  # a missed renewal is retried at the next beat
                    log.warning("run %s: could not renew the lease", run_id, exc_info=True)

        beat = threading.Thread(target=renew, name=f"lease-{run_id}", daemon=True)
        beat.start()
        try:
            yield
        finally:
            stop.set()
            beat.join()

    def _finish_step(
        self, run_id: str, seq: int, status: StepStatus, output: str | None, error: str | None = None
    ) -> None:
        with self.sessions() as session:
            journal.finish_step(run_id, seq, session=session, status=status, output=output, error=error)

    def _fail(self, run_id: str, error: str) -> None:
        with self.sessions() as session:
            run = runs.finish_run(run_id, session=session, succeeded=False, error=error, worker=self.worker)
        _count(run)
        log.warning("run %s ended %s: %s", run_id, run.status, error)

    def _cancelled(self, run_id: str) -> bool:
        with self.sessions() as session:
            return runs.get_run(run_id, session=session).status == RunStatus.CANCELLED


def _count(run: Run) -> None:
    """Count a finished run by its recorded outcome (one cancelled meanwhile stays cancelled)."""
    metrics.run_finished(run.procedure, str(run.status))
