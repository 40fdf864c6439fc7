"""The step journal: what each step of a run did, keyed by ``(run_id, seq)``.

On restart the runner replays succeeded steps and resumes at the first unfinished one. A step left
``started`` (the process died between starting it and recording its end) is reported by
:func:`unfinished_step`; the runner probes live state before deciding to redo it, because the step may
have been destructive and may have already happened.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from storage.db import writes
from storage.errors import NotFoundError
from storage.models import Run, StepRun, StepStatus, utcnow
from storage.timeline import add_event

OUTPUT_LIMIT = 64 * 1024
_TRUNCATED = "…[output truncated, kept the end]…\n"

FINISHED_STEP_STATUSES = (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED)


def bound_output(output: str | None, limit: int = OUTPUT_LIMIT) -> str | None:
    """Keep at most ``limit`` characters, the end rather than the start (errors are printed last)."""
    if output is None or len(output) <= limit:
        return output
    return _TRUNCATED + output[-(limit - len(_TRUNCATED)) :]


@writes
def plan_steps(run_id: str, planned: Sequence[tuple[str, str, bool]], *, session: Session) -> bool:
    """Record the run's plan — ``(step_id, title, destructive)`` per step, in order — as pending steps,
    so everyone sees what will happen before it does. Steps already journaled are left alone; True when
    anything new was recorded (with a ``run.planned`` event)."""
    run = session.get(Run, run_id)
    if run is None:
        raise NotFoundError(f"no run {run_id!r}")
    known = {s.seq for s in session.exec(select(StepRun).where(StepRun.run_id == run_id)).all()}
    added = 0
    for seq, (step_id, title, destructive) in enumerate(planned, start=1):
        if seq not in known:
            session.add(
                StepRun(run_id=run_id, seq=seq, step_id=step_id, title=title, destructive=destructive)
            )
            added += 1
    if added:
        add_event(
            session=session,
            kind="run.planned",
            summary=f"{run.procedure} on {run.cluster} ({run_id}): {len(planned)} steps planned",
            cluster=run.cluster,
            run_id=run_id,
            incident_id=run.incident_id,
            details={"steps": [step_id for step_id, _, _ in planned]},
        )
    session.commit()
    return added > 0


@writes
def start_step(
    run_id: str,
    seq: int,
    *,
    session: Session,
    step_id: str,
    title: str,
    destructive: bool = False,
) -> StepRun:
    """Record that step ``seq`` starts now; a second start of the same step counts as a new attempt."""
    run = session.get(Run, run_id)
    if run is None:
        raise NotFoundError(f"no run {run_id!r}")
    now = utcnow()
    step = session.get(StepRun, (run_id, seq), populate_existing=True)
    if step is None:
        step = StepRun(run_id=run_id, seq=seq, step_id=step_id, title=title, destructive=destructive)
    step.status = StepStatus.STARTED
    step.attempt += 1
    step.started_at = now
    step.finished_at = None
    step.error = None
    session.add(step)
    add_event(
        session=session,
        kind="step.started",
        summary=f"step {seq} {title}" + (f" (attempt {step.attempt})" if step.attempt > 1 else ""),
        cluster=run.cluster,
        run_id=run_id,
        incident_id=run.incident_id,
        details={"seq": seq, "step_id": step_id, "attempt": step.attempt, "destructive": destructive},
    )
    session.commit()
    return step


@writes
def finish_step(
    run_id: str,
    seq: int,
    *,
    session: Session,
    status: StepStatus,
    output: str | None = None,
    error: str | None = None,
) -> StepRun:
    """Record how a started step ended (succeeded, failed or skipped), with its bounded output."""
    if status not in FINISHED_STEP_STATUSES:
        raise ValueError(f"{status!r} is not a finished step status")
    step = session.get(StepRun, (run_id, seq), populate_existing=True)
    if step is None:
        raise NotFoundError(f"run {run_id!r} has no step {seq}")
    run = session.get(Run, run_id)
    step.status = status
    step.finished_at = utcnow()
    step.output = bound_output(output)
    step.error = error
    session.add(step)
    add_event(
        session=session,
        kind=f"step.{status.value}",
        summary=f"step {seq} {step.title} {status.value}" + (f": {error}" if error else ""),
        cluster=run.cluster if run else None,
        run_id=run_id,
        incident_id=run.incident_id if run else None,
        details={"seq": seq, "step_id": step.step_id, "attempt": step.attempt},
    )
    session.commit()
    return step


def steps_of(run_id: str, *, session: Session) -> Sequence[StepRun]:
    statement = (
        select(StepRun)
        .where(StepRun.run_id == run_id)
        .order_by(col(StepRun.seq))
        .execution_options(populate_existing=True)
    )
    return session.exec(statement).all()


def unfinished_step(run_id: str, *, session: Session) -> StepRun | None:
    """The step that was started and never recorded finished (the one to probe on resume), if any."""
    statement = (
        select(StepRun)
        .where(StepRun.run_id == run_id, StepRun.status == StepStatus.STARTED)
        .order_by(col(StepRun.seq))
        .execution_options(populate_existing=True)
    )
    return session.exec(statement).first()
