"""Cron schedules that survive restarts and fire once, however many etcdops processes are running.

APScheduler 3 keeps the jobs (trigger and next firing time) in the project's database through its
``SQLAlchemyJobStore``, so a schedule made in one process is seen by every other and by the next start.
What APScheduler does not give is "fire once across processes": two schedulers on one job store would
both fire every job. So the scheduler's processing round is replaced here by :meth:`_tick`:

- only the holder of the database lease (:func:`storage.schedules.hold_lease`) fires anything; the
  others keep polling and take over when the holder stops renewing;
- a firing only *enqueues a run* (through ``fire``), tagged with its schedule and slot, which the
  database keeps unique: a late duplicate from a stalled former holder is refused, not run twice;
- the clock is injected, so a test can move time forward to the next slot instead of sleeping.

Missed firings (every process was down at the slot) follow one stated policy: the latest missed slot
runs once, as soon as a process is back, however late; the earlier ones are recorded as missed on the
timeline. A backup or a report taken late is worth more than none, and ten backups in a row after an
outage are worth no more than one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from sqlalchemy import Engine as SqlEngine

from storage import schedules
from storage.db import SessionFactory
from storage.errors import NotFoundError
from storage.models import Schedule
from storage.timeline import append_event

log = logging.getLogger(__name__)

# The job's callable, by reference: jobs are stored as text, so this name must never move.
JOB_FUNC = "runner.schedule_jobs:scheduled_firing"
MAX_MISSED_COUNTED = 1000
Clock = Callable[[], dt.datetime]
Fire = Callable[[Schedule, dt.datetime], object]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Periodic:
    """Something the lease holder does every ``every`` (the health watch), besides firing jobs."""

    every: dt.timedelta
    action: Callable[[dt.datetime], object]
    last: dt.datetime | None = field(default=None)  # when the last round started (the clock's time)
    finished: dt.datetime | None = field(default=None)  # ...and the clock's time when it ended


class _LeasedScheduler(BackgroundScheduler):  # type: ignore[misc]
    """APScheduler's background thread and job store, with the processing round delegated."""

    def __init__(self, tick: Callable[[], float], **options: Any) -> None:
        super().__init__(**options)
        self._tick = tick

    def _process_jobs(self) -> float:
        try:
            return self._tick()
        except Exception:  # the thread must survive a database hiccup; the next round retries
            log.exception("scheduler round failed; retrying")
            return 5.0


class _ManualScheduler(BaseScheduler):  # type: ignore[misc]
    """No thread at all: rounds happen only when :meth:`ScheduleService.tick` is called (tests, and
    the CLI commands that only add or list schedules)."""

    def wakeup(self) -> None:
        pass

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)


class ScheduleService:
    """One per process: adds and removes schedules' jobs, and (as lease holder) fires them."""

    def __init__(
        self,
        database: SqlEngine,
        sessions: SessionFactory,
        fire: Fire,
        *,
        holder: str,
        now: Clock = utc_now,
        poll_seconds: float = 5.0,
        lease_seconds: float = 30.0,
        periodic: list[Periodic] | None = None,
        threaded: bool = True,
    ) -> None:
        self._sessions = sessions
        self._fire = fire
        self._holder = holder
        self._now = now
        self._poll = poll_seconds
        self._lease = dt.timedelta(seconds=lease_seconds)
        self._periodic = list(periodic or [])
        self._store = SQLAlchemyJobStore(engine=database, tablename="apscheduler_jobs")
        options: dict[str, Any] = {
            "timezone": dt.UTC,
            "jobstores": {"default": self._store},
            "job_defaults": {"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
        }
        self._scheduler: BaseScheduler = (
            _LeasedScheduler(self._tick, **options) if threaded else _ManualScheduler(**options)
        )
        self._round = threading.Lock()
        self._stopped = False

    def start(self) -> ScheduleService:
        self._stopped = False
        self._scheduler.start()
        return self

    def stop(self) -> None:
        # A round in progress finishes first, and none runs after: APScheduler's shutdown marks the
        # scheduler stopped (its job lookups then fail) and wakes the thread for one more round.
        with self._round:
            self._stopped = True
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        with self._sessions() as session:
            schedules.release_lease(self._holder, session=session)

    def now(self) -> dt.datetime:
        """The time by the scheduler's clock: what "next firing" is counted from (a test injects it)."""
        return self._now()

    def wake(self) -> None:
        """Process now rather than at the next poll (a test moved the clock; a schedule was added)."""
        self._scheduler.wakeup()

    def add(self, schedule_id: str, trigger: BaseTrigger) -> dt.datetime | None:
        """Create (or replace) the job of a recorded schedule; returns its first firing."""
        first: dt.datetime | None = trigger.get_next_fire_time(None, self._now())
        self._scheduler.add_job(
            JOB_FUNC,
            trigger=trigger,
            id=schedule_id,
            kwargs={"schedule_id": schedule_id},
            replace_existing=True,
            next_run_time=first,
        )
        self.wake()
        return first

    def remove(self, schedule_id: str) -> None:
        # Removed already (by another process, or it had no firing left): nothing to do.
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(schedule_id)

    def next_firing(self, schedule_id: str) -> dt.datetime | None:
        job: Job | None = self._scheduler.get_job(schedule_id)
        return job.next_run_time if job is not None else None

    def periodic_rounds(self) -> list[tuple[dt.datetime | None, dt.datetime | None]]:
        """When each periodic task last started and ended (by the injected clock), for tests and health."""
        return [(p.last, p.finished) for p in self._periodic]

    def tick(self) -> float:
        """One processing round now, in the caller's thread (tests); the same as the thread's."""
        return self._tick()

    def _tick(self) -> float:
        with self._round:
            if self._stopped:
                return self._poll
            now = self._now()
            with self._sessions() as session:
                if not schedules.hold_lease(self._holder, session=session, now=now, ttl=self._lease):
                    return self._poll
            for job in self._store.get_due_jobs(now):
                self._process(job, now)
            for periodic in self._periodic:
                if periodic.last is None or now - periodic.last >= periodic.every:
                    periodic.last = now
                    try:
                        periodic.action(now)
                    except Exception:
                        log.exception("periodic scheduler task failed; it runs again next time")
                    periodic.finished = self._now()
            upcoming: dt.datetime | None = self._store.get_next_run_time()
            if upcoming is None:
                return self._poll
            return max(0.0, min(self._poll, (upcoming - now).total_seconds()))

    def _process(self, job: Job, now: dt.datetime) -> None:
        """Fire the job's latest due slot, then move the job on. In that order: killed in between, the
        next holder finds the same slot due and enqueues it again, which the database turns into the
        run already there — no firing is lost, none is doubled."""
        slots = _due_slots(job, now)
        if slots:
            try:
                with self._sessions() as session:
                    schedule = schedules.get_schedule(job.id, session=session)
            except NotFoundError:
                log.info("schedule %s is gone; removing its job", job.id)
                self.remove(job.id)
                return
            if len(slots) > 1:
                self._record_missed(schedule, slots[:-1])
            try:
                self._fire(schedule, slots[-1])
            except Exception:  # not retried forever: the next slot will try again
                log.exception("schedule %s could not enqueue its %s firing", job.id, slots[-1])
        following = job.trigger.get_next_fire_time(slots[-1] if slots else None, now)
        if following is None:
            self.remove(job.id)
        else:
            self._scheduler.modify_job(job.id, next_run_time=following)

    def _record_missed(self, schedule: Schedule, due: list[dt.datetime]) -> None:
        """Put the slots nobody fired on the timeline (a slot fired just before its holder was killed
        is due again, but has its run: it is not missed)."""
        with self._sessions() as session:
            ran = set(schedules.fired_slots(schedule.id, due[0], due[-1], session=session))
            missed = [slot for slot in due if slot not in ran]
            if not missed:
                return
            first, last = missed[0].strftime("%Y-%m-%d %H:%M"), missed[-1].strftime("%Y-%m-%d %H:%M")
            count = f"{len(missed)}+" if len(missed) >= MAX_MISSED_COUNTED else str(len(missed))
            append_event(
                session=session,
                kind="schedule.missed",
                summary=f"schedule {schedule.id} ({schedule.kind} of {schedule.cluster}) missed {count} "
                f"firing(s) from {first} to {last} UTC while no etcdops process was running; only the "
                "latest one runs",
                cluster=None if schedule.cluster == "all" else schedule.cluster,
                details={"schedule_id": schedule.id, "missed": len(missed)},
            )


def _due_slots(job: Job, now: dt.datetime) -> list[dt.datetime]:
    """Every slot of the job from its stored next firing up to ``now`` (capped; the latest is last)."""
    slots: list[dt.datetime] = []
    slot: dt.datetime | None = job.next_run_time
    while slot is not None and slot <= now:
        slots.append(slot)
        if len(slots) >= MAX_MISSED_COUNTED:
            # A long outage: keep the count honest enough and jump to the latest slot before now.
            slots.append(_latest_slot_before(job.trigger, slot, now))
            break
        slot = job.trigger.get_next_fire_time(slot, now)
    return slots


def _latest_slot_before(trigger: BaseTrigger, counted: dt.datetime, now: dt.datetime) -> dt.datetime:
    """The trigger's latest slot at or before ``now``, searched over the last day only (a schedule
    that missed a thousand firings fires at least daily); ``counted`` if there is none in that day."""
    latest = counted
    slot: dt.datetime | None = trigger.get_next_fire_time(None, max(counted, now - dt.timedelta(days=1)))
    while slot is not None and slot <= now:
        latest, slot = slot, trigger.get_next_fire_time(slot, now)
    return latest
