"""What a schedule's firing does: enqueue one run, exactly once per (schedule, slot).

A firing never does the work itself — a backup can take minutes and the scheduler's round must stay
short — it records a run, as a person typing the command would, and the runner takes it from there.
The run carries the schedule's id and the slot; the database refuses a second run for the same pair,
so whichever process fires, and however often it retries, there is one run per slot.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError

from runner.submit import SCHEDULED_BY, Refused, submit_run
from storage import schedules
from storage.db import SessionFactory
from storage.models import Schedule, ScheduleKind
from storage.timeline import append_event

log = logging.getLogger(__name__)

ALL_CLUSTERS = "all"


class FiringEnqueuer:
    """The scheduler's ``fire``: turns (schedule, slot) into a pending run of the right procedure."""

    def __init__(self, sessions: SessionFactory, channel_of: Callable[[str], str | None]) -> None:
        self._sessions = sessions
        self._channel_of = channel_of  # a cluster's default channel, for schedules made without one

    def __call__(self, schedule: Schedule, slot: dt.datetime) -> str | None:
        """Enqueue the firing's run; its id, or None when refused (recorded on the timeline)."""
        procedure, params = _run_for(schedule)
        channel = schedule.channel or self._channel_of(schedule.cluster)
        with self._sessions() as session:
            existing = schedules.firing_run(schedule.id, slot, session=session)
            if existing is not None:
                return existing.id
            try:
                run = submit_run(
                    session=session,
                    procedure=procedure,
                    cluster=schedule.cluster,
                    requested_by=SCHEDULED_BY + schedule.id,
                    channel=channel,
                    params=params,
                    schedule_id=schedule.id,
                    scheduled_for=slot,
                )
            except IntegrityError:
                session.rollback()
                found = schedules.firing_run(schedule.id, slot, session=session)
                log.info("firing %s@%s was enqueued by another process", schedule.id, slot)
                return found.id if found else None
        if isinstance(run, Refused):
            with self._sessions() as session:
                append_event(
                    session=session,
                    kind="schedule.skipped",
                    summary=f"schedule {schedule.id} did not start {procedure} of {schedule.cluster} at "
                    f"{slot:%Y-%m-%d %H:%M} UTC: {run.reason}",
                    cluster=None if schedule.cluster == ALL_CLUSTERS else schedule.cluster,
                    details={"schedule_id": schedule.id, "slot": slot.isoformat()},
                )
            return None
        return run.id


def _run_for(schedule: Schedule) -> tuple[str, dict[str, object]]:
    """The procedure and parameters a firing of ``schedule`` runs."""
    if schedule.kind == ScheduleKind.BACKUP:
        return "backup", {"schedule": schedule.id}
    if schedule.kind == ScheduleKind.VERIFY:
        return "verify", {"schedule": schedule.id, "backup": "latest"}
    if schedule.kind == ScheduleKind.HEALTH:
        return "health", {"schedule": schedule.id, "clusters": schedule.cluster}
    raise ValueError(f"schedule {schedule.id} has an unknown kind {schedule.kind!r}")
