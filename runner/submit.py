"""Turning a request into a run, or refusing it with a reason the requester can act on.

The rules that must hold before a run exists at all live here, next to each other: one destructive run
per cluster (the cluster lock, taken in the same breath as the run is created), and one backup at a
time per cluster (the seed: back up from one master only, and a second snapshot would only compete for
the disk and the leader's I/O).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from storage import locks, runs
from storage.models import Run, RunStatus

SINGLE_INSTANCE = frozenset({"backup"})
SCHEDULED_BY = "schedule:"  # requested_by of a run a schedule enqueued: "schedule:s-4f2k9"
REFUSED_BY = "etcdops"  # cancelled_by of a run refused as it was recorded (its cluster was busy)


def requester(requested_by: str) -> str:
    """Who asked for a run, as Slack shows it: a user mention, or the schedule that fired."""
    if requested_by.startswith(SCHEDULED_BY):
        return f"schedule `{requested_by.removeprefix(SCHEDULED_BY)}`"
    return f"<@{requested_by}>"


@dataclass(frozen=True)
class Refused:
    reason: str


def submit_run(
    *,
    session: Session,
    procedure: str,
    cluster: str,
    requested_by: str,
    channel: str | None = None,
    params: dict[str, Any] | None = None,
    destructive: bool = False,
    schedule_id: str | None = None,
    scheduled_for: dt.datetime | None = None,
    trigger_id: str | None = None,
) -> Run | Refused:
    """Create the run (pending, for the runner to claim), or say why it cannot be started now.

    A Slack command delivered a second time (Slack retries an envelope on another connection when the
    first replica did not acknowledge it in time, or died first) gets the run its first delivery
    recorded, whichever replica recorded it: the trigger is unique among runs, so its insert fails.
    """
    if procedure in SINGLE_INSTANCE:
        # Looked up first here: the first delivery's own run would otherwise refuse this one as busy.
        recorded = runs.run_for_trigger(trigger_id, session=session) if trigger_id else None
        if recorded is not None:
            return _as_first_answered(recorded)
        busy = runs.active_runs(session=session, cluster=cluster, procedure=procedure)
        if busy:
            other = busy[0]
            return Refused(
                f"a {procedure} of {cluster} is already in progress (run `{other.id}`, requested by "
                f"{requester(other.requested_by)}): wait for it to finish, or stop it with "
                f"`/etcd cancel {other.id}`"
            )
    try:
        run = runs.create_run(
            session=session,
            procedure=procedure,
            cluster=cluster,
            requested_by=requested_by,
            channel=channel,
            params=params,
            destructive=destructive,
            in_channel_incident=True,  # started from a channel that follows an open incident: its timeline
            schedule_id=schedule_id,
            scheduled_for=scheduled_for,
            trigger_id=trigger_id,
        )
    except IntegrityError:
        if trigger_id is None:
            raise
        session.rollback()  # the other replica recorded this very command a moment ago
        recorded = runs.run_for_trigger(trigger_id, session=session)
        if recorded is None:
            raise
        return _as_first_answered(recorded)
    if destructive and not locks.acquire_cluster_lock(cluster, run.id, session=session):
        holder = locks.cluster_lock_holder(cluster, session=session)
        held_by = holder.run_id if holder else "another run"
        runs.cancel_run(
            run.id, session=session, cancelled_by=REFUSED_BY, reason=f"{cluster} is busy with {held_by}"
        )
        return Refused(
            f"{cluster} already has a destructive run in progress (`{held_by}`): only one at a time. "
            f"Wait for it, or stop it with `/etcd cancel {held_by}`"
        )
    return run


def _as_first_answered(run: Run) -> Run | Refused:
    """What the first delivery of a command answered: its run, or the refusal it was recorded with."""
    if run.status == RunStatus.CANCELLED and run.cancelled_by == REFUSED_BY and run.error:
        return Refused(f"{run.error}: nothing was started")
    return run
