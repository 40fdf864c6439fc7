"""Schedules, the scheduler lease, and enqueueing a scheduled firing exactly once.

Several etcdops processes may share one PostgreSQL database. Each runs a scheduler, but only the
holder of the ``scheduler_lease`` row fires jobs; the lease is taken and renewed with one conditional
UPDATE, so two processes can never both believe they hold it at the same instant of the database's
order of writes. Even so, a holder can stall past its lease (a long GC pause, a frozen VM) while
another takes over; the unique (schedule, slot) pair on ``run`` then turns the late duplicate into a
no-op. The lease keeps the work single; the constraint keeps the outcome single.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import insert, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from storage.db import writes
from storage.errors import NotFoundError
from storage.models import HealthState, Run, Schedule, SchedulerLease, utcnow
from storage.runs import unused_id
from storage.timeline import add_event

SCHEDULER_LEASE = "scheduler"


@writes
def create_schedule(
    *, session: Session, kind: str, cron: str, cluster: str, channel: str | None, created_by: str
) -> Schedule:
    """Record a schedule and its ``schedule.created`` event (the caller adds the APScheduler job)."""
    schedule_id = unused_id(session, Schedule, "s-")
    schedule = Schedule(
        id=schedule_id,
        kind=kind,
        cron=cron,
        cluster=cluster,
        channel=channel,
        created_by=created_by,
        created_at=utcnow(),
    )
    session.add(schedule)
    add_event(
        session=session,
        kind="schedule.created",
        summary=f"{created_by} scheduled {kind} of {cluster} at `{cron}` UTC ({schedule_id})",
        cluster=None if cluster == "all" else cluster,
        actor=created_by,
        details={"schedule_id": schedule_id, "kind": kind, "cron": cron, "channel": channel},
    )
    session.commit()
    return schedule


def get_schedule(schedule_id: str, *, session: Session) -> Schedule:
    schedule = session.get(Schedule, schedule_id, populate_existing=True)
    if schedule is None:
        raise NotFoundError(f"no schedule {schedule_id}")
    return schedule


def list_schedules(*, session: Session) -> Sequence[Schedule]:
    return session.exec(select(Schedule).order_by(col(Schedule.created_at), col(Schedule.id))).all()


@writes
def delete_schedule(schedule_id: str, *, session: Session, deleted_by: str) -> Schedule:
    """Remove the schedule row (its runs stay, with their schedule id, for the record)."""
    schedule = get_schedule(schedule_id, session=session)
    session.exec(delete(Schedule).where(col(Schedule.id) == schedule_id))
    add_event(
        session=session,
        kind="schedule.deleted",
        summary=f"{deleted_by} removed schedule {schedule_id} ({schedule.kind} of {schedule.cluster})",
        cluster=None if schedule.cluster == "all" else schedule.cluster,
        actor=deleted_by,
        details={"schedule_id": schedule_id},
    )
    session.commit()
    return schedule


@writes
def hold_lease(
    holder: str, *, session: Session, now: dt.datetime, ttl: dt.timedelta, name: str = SCHEDULER_LEASE
) -> bool:
    """Take or renew the scheduler lease for ``holder``; True while it holds it.

    One conditional UPDATE (mine, or expired) decides; only when no row exists yet is one inserted,
    and a concurrent insert losing on the primary key simply means someone else holds it."""
    taken = session.execute(
        update(SchedulerLease)
        .where(
            col(SchedulerLease.name) == name,
            or_(col(SchedulerLease.holder) == holder, col(SchedulerLease.expires_at) < now),
        )
        .values(holder=holder, expires_at=now + ttl)
    )
    if taken.rowcount:  # type: ignore[attr-defined]
        session.commit()
        return True
    session.commit()
    try:
        session.execute(insert(SchedulerLease).values(name=name, holder=holder, expires_at=now + ttl))
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True


@writes
def release_lease(holder: str, *, session: Session, name: str = SCHEDULER_LEASE) -> None:
    """Let another process take over at once (a clean shutdown), instead of after the lease runs out."""
    session.exec(
        delete(SchedulerLease).where(col(SchedulerLease.name) == name, col(SchedulerLease.holder) == holder)
    )
    session.commit()


def firing_run(schedule_id: str, scheduled_for: dt.datetime, *, session: Session) -> Run | None:
    """The run a firing already produced, if any."""
    statement = select(Run).where(Run.schedule_id == schedule_id, Run.scheduled_for == scheduled_for)
    return session.exec(statement.execution_options(populate_existing=True)).first()


def fired_slots(
    schedule_id: str, first: dt.datetime, last: dt.datetime, *, session: Session
) -> Sequence[dt.datetime]:
    """The slots between ``first`` and ``last`` (inclusive) that already have their run."""
    statement = select(Run.scheduled_for).where(
        Run.schedule_id == schedule_id, col(Run.scheduled_for) >= first, col(Run.scheduled_for) <= last
    )
    return [slot for slot in session.exec(statement).all() if slot is not None]


def runs_of_schedule(schedule_id: str, *, session: Session) -> Sequence[Run]:
    statement = select(Run).where(Run.schedule_id == schedule_id).order_by(col(Run.scheduled_for))
    return session.exec(statement.execution_options(populate_existing=True)).all()


@dataclass(frozen=True)
class HealthChange:
    changed: bool  # tell people: the signature differs from the last one stored
    previous: str | None  # the last signature stored (None: first observation)


@writes
def record_health(
    cluster: str, *, session: Session, signature: str, level: str, now: dt.datetime
) -> HealthChange:
    """Store the cluster's health signature and say whether it changed (so a change is told once, and
    nothing is repeated while the state holds). A first observation counts as a change only when it
    is not green: nobody needs to hear that a healthy cluster is healthy."""
    state = session.get(HealthState, cluster, populate_existing=True, with_for_update=True)
    if state is None:
        session.add(
            HealthState(cluster=cluster, signature=signature, level=level, changed_at=now, checked_at=now)
        )
        session.commit()
        return HealthChange(level != "green", None)
    previous = state.signature
    state.checked_at = now
    if previous != signature:
        state.signature, state.level, state.changed_at = signature, level, now
    session.add(state)
    session.commit()
    return HealthChange(previous != signature, previous)
