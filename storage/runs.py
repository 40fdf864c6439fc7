"""Runs: creating them from a command, claiming them for a runner, and finishing them.

A runner *claims* a run by writing its worker id and a lease expiry. While it works it renews the
lease; if the process is killed the lease runs out and another runner claims the run again and
resumes it from the journal. Claiming is race-free on both databases: PostgreSQL locks the chosen row
with ``SELECT ... FOR UPDATE SKIP LOCKED`` (so concurrent runners pick different runs without waiting),
SQLite takes the writer lock up front with ``BEGIN IMMEDIATE`` (so claims are serialised).

Every service function here commits its own transaction and appends the matching timeline event in it.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from storage import incidents
from storage.db import begin_write, writes
from storage.errors import NotFoundError
from storage.models import (
    ACTIVE_RUN_STATUSES,
    ClusterLock,
    Run,
    RunStatus,
    utcnow,
)
from storage.timeline import add_event

# No 0/o, 1/l/i: the id is read aloud on calls and typed into Slack.
RUN_ID_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
RUN_ID_LENGTH = 5
RUN_ID_ATTEMPTS = 5  # an ID already taken is drawn again; five in a row taken means something else is wrong


def new_run_id() -> str:
    return new_id("r-")


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(RUN_ID_ALPHABET) for _ in range(RUN_ID_LENGTH))


def unused_id(session: Session, model: type[Any], prefix: str) -> str:
    """A fresh short id (``r-7k2p9``, ``s-4f2k9``) that no row of ``model`` has yet."""
    found = new_id(prefix)
    while session.get(model, found) is not None:
        found = new_id(prefix)
    return found


def run_for_trigger(trigger_id: str, *, session: Session) -> Run | None:
    """The run a Slack command (its ``trigger_id``) already recorded, if any."""
    return session.exec(select(Run).where(Run.trigger_id == trigger_id)).first()


@writes
def create_run(
    *,
    session: Session,
    procedure: str,
    cluster: str,
    requested_by: str,
    channel: str | None = None,
    params: dict[str, Any] | None = None,
    destructive: bool = False,
    incident_id: int | None = None,
    schedule_id: str | None = None,
    scheduled_for: dt.datetime | None = None,
    trigger_id: str | None = None,
    in_channel_incident: bool = False,
) -> Run:
    """Record a requested run (status ``pending``) and its ``run.requested`` event.

    ``in_channel_incident``: file the run under the open incident its ``channel`` follows, if any, looked
    up in the same transaction (a Slack command has 3 s to be acked: one transaction, not two).

    A scheduled firing names its schedule and slot: the pair is unique, so a second enqueue of the same
    firing (another process, a retry) fails with an IntegrityError instead of making a second run; so
    does a second recording of one Slack command (``trigger_id``)."""
    looked_up = in_channel_incident and channel and incident_id is None
    for attempt in range(1, RUN_ID_ATTEMPTS + 1):
        if looked_up:
            incident = incidents.active_incident_for_channel(str(channel), session=session)
            incident_id = incident.id if incident else None
        run_id = new_run_id()  # not looked up first: the insert says when the ID is taken (seldom)
        run = Run(
            id=run_id,
            procedure=procedure,
            cluster=cluster,
            requested_by=requested_by,
            channel=channel,
            params=dict(params or {}),
            destructive=destructive,
            incident_id=incident_id,
            schedule_id=schedule_id,
            scheduled_for=scheduled_for,
            trigger_id=trigger_id,
            status=RunStatus.PENDING,
            created_at=utcnow(),
        )
        try:
            session.add(run)
            add_event(
                session=session,
                kind="run.requested",
                summary=f"{requested_by} requested {procedure} on {cluster} ({run_id})",
                cluster=cluster,
                run_id=run_id,
                incident_id=incident_id,
                actor=requested_by,
                details={"procedure": procedure, "params": run.params, "channel": channel},
            )
            session.commit()  # PostgreSQL may already have failed the insert in add_event's flush
        except IntegrityError:
            session.rollback()
            if attempt == RUN_ID_ATTEMPTS or session.get(Run, run_id) is None:
                raise  # the trigger or the schedule's slot was taken, not the ID: the caller's to handle
            begin_write(session)
            continue
        return run
    raise AssertionError("unreachable")


def get_run(run_id: str, *, session: Session) -> Run:
    """The run with this id, freshly read; :class:`NotFoundError` if there is none."""
    run = session.get(Run, run_id, populate_existing=True)
    if run is None:
        raise NotFoundError(f"no run {run_id!r}")
    return run


def list_runs(
    *,
    session: Session,
    cluster: str | None = None,
    status: str | Sequence[str] | None = None,
    limit: int = 100,
) -> Sequence[Run]:
    """Runs, newest first, optionally for one cluster and/or some statuses."""
    statement = select(Run)
    if cluster is not None:
        statement = statement.where(Run.cluster == cluster)
    if isinstance(status, str):
        statement = statement.where(Run.status == status)
    elif status is not None:
        statement = statement.where(col(Run.status).in_(list(status)))
    statement = statement.order_by(col(Run.created_at).desc(), col(Run.id)).limit(limit)
    return session.exec(statement).all()


def _claimable(now: dt.datetime) -> Any:
    """Pending runs nobody holds, and active runs whose holder's lease ran out (a killed worker)."""
    lease_free = or_(col(Run.lease_until).is_(None), col(Run.lease_until) < now)
    return or_(
        and_(col(Run.status) == RunStatus.PENDING, lease_free),
        and_(
            col(Run.status).in_([RunStatus.RUNNING, RunStatus.WAITING_APPROVAL]),
            col(Run.lease_until).is_not(None),
            col(Run.lease_until) < now,
        ),
    )


def has_claimable_run(*, session: Session, now: dt.datetime | None = None) -> bool:
    """Whether :func:`claim_next_run` would find anything (a read only, no write lock taken)."""
    found = session.exec(select(Run.id).where(_claimable(now or utcnow())).limit(1)).first()
    session.rollback()  # end the read transaction: a later write must not start from a stale snapshot
    return found is not None


@writes
def claim_next_run(
    *,
    session: Session,
    worker: str,
    lease_seconds: float,
    cluster: str | None = None,
    now: dt.datetime | None = None,
) -> Run | None:
    """Claim the oldest claimable run for ``worker`` (optionally only for one cluster), or None.

    The claimed run is ``running`` with ``claimed_by=worker`` and a lease of ``lease_seconds``. A run
    taken over from an expired lease keeps its status and journal; the runner resumes it.
    """
    now = now or utcnow()
    statement = select(Run).where(_claimable(now))
    if cluster is not None:
        statement = statement.where(Run.cluster == cluster)
    statement = (
        statement.order_by(col(Run.created_at), col(Run.id))
        .limit(1)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    run = session.exec(statement).first()
    if run is None:
        session.commit()
        return None
    previous_worker = run.claimed_by
    resumed = run.status != RunStatus.PENDING
    if not resumed:
        run.status = RunStatus.RUNNING
        run.started_at = now
    run.claimed_by = worker
    run.lease_until = now + dt.timedelta(seconds=lease_seconds)
    session.add(run)
    add_event(
        session=session,
        kind="run.resumed" if resumed else "run.started",
        summary=(
            f"{worker} took over {run.id} from {previous_worker} (lease expired)"
            if resumed
            else f"{worker} started {run.id}"
        ),
        cluster=run.cluster,
        run_id=run.id,
        incident_id=run.incident_id,
        actor=worker,
        details={"previous_worker": previous_worker} if resumed else {},
    )
    session.commit()
    return run


@writes
def renew_lease(
    run_id: str, *, session: Session, worker: str, lease_seconds: float, now: dt.datetime | None = None
) -> bool:
    """Extend the lease if ``worker`` still holds the run; False means it lost it and must stop."""
    now = now or utcnow()
    run = get_run(run_id, session=session)
    if run.claimed_by != worker or run.status not in ACTIVE_RUN_STATUSES:
        session.commit()
        return False
    run.lease_until = now + dt.timedelta(seconds=lease_seconds)
    session.add(run)
    session.commit()
    return True


@writes
def release_claims_of(worker: str, *, session: Session) -> Sequence[str]:
    """End the leases ``worker`` holds, so its runs can be claimed (resumed) at once.

    Called by a runner when it starts: a run still claimed under its own name was left by an earlier
    process of the same worker that died, and waiting for that lease to run out would only delay the
    resume. Each worker name must belong to one process at a time.
    """
    held = session.exec(
        select(Run).where(Run.claimed_by == worker, col(Run.status).in_(list(ACTIVE_RUN_STATUSES)))
    ).all()
    for run in held:
        run.lease_until = None if run.status == RunStatus.PENDING else utcnow() - dt.timedelta(seconds=1)
        session.add(run)
    session.commit()
    return [run.id for run in held]


def active_runs(*, session: Session, cluster: str, procedure: str | None = None) -> Sequence[Run]:
    """Runs of the cluster that have not finished (optionally of one procedure), oldest first."""
    statement = select(Run).where(Run.cluster == cluster, col(Run.status).in_(list(ACTIVE_RUN_STATUSES)))
    if procedure is not None:
        statement = statement.where(Run.procedure == procedure)
    return session.exec(statement.order_by(col(Run.created_at))).all()


@writes
def set_run_status(run_id: str, status: RunStatus, *, session: Session, plan_hash: str | None = None) -> Run:
    """Move an active run between running and waiting_approval (and record its plan hash).

    Ending a run goes through :func:`finish_run` or :func:`cancel_run`, which also release its lock.
    """
    if status not in (RunStatus.RUNNING, RunStatus.WAITING_APPROVAL):
        raise ValueError(f"use finish_run/cancel_run to move a run to {status!r}")
    run = get_run(run_id, session=session)
    if run.status not in ACTIVE_RUN_STATUSES:
        raise ValueError(f"run {run_id} already {run.status}")
    run.status = status
    if plan_hash is not None:
        run.plan_hash = plan_hash
    session.add(run)
    session.commit()
    return run


@writes
def set_slack_ts(run_id: str, slack_ts: str, *, session: Session, channel: str | None = None) -> Run:
    """Remember the run's Slack message so the relay edits it instead of posting anew (and the channel's
    ID Slack answered with: a run posted to a channel by name can only be edited by ID)."""
    run = get_run(run_id, session=session)
    run.slack_ts = slack_ts
    if channel:
        run.channel = channel
    session.add(run)
    session.commit()
    return run


def _release_locks_of(run: Run, session: Session) -> None:
    session.exec(delete(ClusterLock).where(col(ClusterLock.run_id) == run.id))


@writes
def finish_run(
    run_id: str,
    *,
    session: Session,
    succeeded: bool,
    error: str | None = None,
    worker: str | None = None,
    result: str | None = None,
) -> Run:
    """Mark a run succeeded or failed (with its one-line ``result``), drop its lease and its cluster
    lock, and say so on the timeline. A run cancelled meanwhile stays cancelled: the person who
    stopped it is told the truth, not the outcome of the step that was already under way."""
    run = get_run(run_id, session=session)
    if run.status == RunStatus.CANCELLED:
        session.commit()
        return run
    now = utcnow()
    run.status = RunStatus.SUCCEEDED if succeeded else RunStatus.FAILED
    run.finished_at = now
    run.error = error
    run.result = result
    run.lease_until = None
    session.add(run)
    _release_locks_of(run, session)
    add_event(
        session=session,
        kind="run.succeeded" if succeeded else "run.failed",
        summary=f"{run.procedure} on {run.cluster} ({run.id}) "
        + ("succeeded" if succeeded else f"failed: {error}"),
        cluster=run.cluster,
        run_id=run.id,
        incident_id=run.incident_id,
        actor=worker or run.claimed_by,
        details={"error": error} if error else {},
    )
    session.commit()
    return run


@writes
def cancel_run(run_id: str, *, session: Session, cancelled_by: str, reason: str | None = None) -> bool:
    """Cancel a run that has not finished; False (and nothing changes) if it already had."""
    run = session.exec(
        select(Run).where(Run.id == run_id).with_for_update().execution_options(populate_existing=True)
    ).first()
    if run is None:
        session.rollback()
        raise NotFoundError(f"no run {run_id!r}")
    if run.status not in ACTIVE_RUN_STATUSES:
        session.commit()
        return False
    run.status = RunStatus.CANCELLED
    run.finished_at = utcnow()
    run.cancelled_by = cancelled_by
    run.error = reason
    run.lease_until = None
    session.add(run)
    _release_locks_of(run, session)
    add_event(
        session=session,
        kind="run.cancelled",
        summary=f"{cancelled_by} cancelled {run.id}" + (f": {reason}" if reason else ""),
        cluster=run.cluster,
        run_id=run.id,
        incident_id=run.incident_id,
        actor=cancelled_by,
        details={"reason": reason} if reason else {},
    )
    session.commit()
    return True
