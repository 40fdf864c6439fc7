"""The callable every scheduled job names (``runner.schedule_jobs:scheduled_firing``).

APScheduler stores a job's callable as text. etcdops never lets APScheduler call it — the lease holder's
round enqueues the run itself (:mod:`runner.scheduler`) — but the name must still resolve when a job is
loaded, and must never move, or stored jobs would be dropped as unloadable.
"""

from __future__ import annotations


def scheduled_firing(schedule_id: str) -> None:
    raise RuntimeError(
        f"schedule {schedule_id} was called as a plain job; etcdops fires schedules through ScheduleService"
    )
