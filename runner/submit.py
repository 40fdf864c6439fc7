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

from sqlmodel import Session

from storage import incidents, locks, runs
from storage.models import Run

SINGLE_INSTANCE = frozenset({"backup"})
SCHEDULED_BY = "schedule:"  # requested_by of a run a schedule enqueued: "schedule:s-4f2k9"


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
) -> Run | Refused:
    """Create the run (pending, for the runner to claim), or say why it cannot be started now."""
    if procedure in SINGLE_INSTANCE:
        busy = runs.active_runs(session=session, cluster=cluster, procedure=procedure)
        if busy:
            other = busy[0]
            return Refused(
                f"a {procedure} of {cluster} is already in progress (run `{other.id}`, requested by "
                f"{requester(other.requested_by)}): wait for it to finish, or stop it with "
                f"`/etcd cancel {other.id}`"
            )
    # A run started from a channel that follows an open incident joins its timeline.
    incident = incidents.active_incident_for_channel(channel, session=session) if channel else None
    run = runs.create_run(
        session=session,
        procedure=procedure,
        cluster=cluster,
        requested_by=requested_by,
        channel=channel,
        params=params,
        destructive=destructive,
        incident_id=incident.id if incident else None,
        schedule_id=schedule_id,
        scheduled_for=scheduled_for,
    )
    if destructive and not locks.acquire_cluster_lock(cluster, run.id, session=session):
        holder = locks.cluster_lock_holder(cluster, session=session)
        held_by = holder.run_id if holder else "another run"
        runs.cancel_run(
            run.id, session=session, cancelled_by="etcdops", reason=f"{cluster} is busy with {held_by}"
        )
        return Refused(
            f"{cluster} already has a destructive run in progress (`{held_by}`): only one at a time. "
            f"Wait for it, or stop it with `/etcd cancel {held_by}`"
        )
    return run
