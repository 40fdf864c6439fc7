"""Schedules on the project's database: firing at the slot (clock injected), surviving a restart, the
missed-firing policy, the lease between processes, and one run per firing whatever happens."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from runner.cron import parse_cron
from runner.firing import FiringEnqueuer
from runner.scheduler import ScheduleService
from storage import schedules
from storage.db import make_session_factory
from storage.models import Schedule, TimelineEvent

START = dt.datetime(2026, 12, 1, 2, 58, tzinfo=dt.UTC)


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += dt.timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


class Fired:
    """A ``fire`` that records what it was asked and enqueues for real."""

    def __init__(self, enqueue: FiringEnqueuer) -> None:
        self.enqueue = enqueue
        self.calls: list[tuple[str, dt.datetime]] = []

    def __call__(self, schedule: Schedule, slot: dt.datetime) -> None:
        self.calls.append((schedule.id, slot))
        self.enqueue(schedule, slot)


def _service(engine: Engine, fire: Fired, clock: Clock, holder: str) -> ScheduleService:
    service = ScheduleService(
        engine, make_session_factory(engine), fire, holder=holder, now=clock, threaded=False, lease_seconds=30
    )
    return service.start()


@pytest.fixture
def fired(engine: Engine) -> Fired:
    return Fired(FiringEnqueuer(make_session_factory(engine), lambda cluster: "C-ops"))


@pytest.fixture
def service(engine: Engine, fired: Fired, clock: Clock) -> Iterator[ScheduleService]:
    made = _service(engine, fired, clock, "one")
    yield made
    made.stop()


def _schedule(engine: Engine, service: ScheduleService, cron: str, kind: str = "backup") -> Schedule:
    with make_session_factory(engine)() as session:
        schedule = schedules.create_schedule(
            session=session, kind=kind, cron=cron, cluster="lab", channel=None, created_by="U-alice"
        )
    service.add(schedule.id, parse_cron(cron))
    return schedule


def test_a_schedule_fires_at_its_slot_once(
    engine: Engine, service: ScheduleService, fired: Fired, clock: Clock
) -> None:
    schedule = _schedule(engine, service, "0 3 * * *")
    slot = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
    assert service.next_firing(schedule.id) == slot
    service.tick()
    assert fired.calls == []
    clock.advance(minutes=2)
    wait = service.tick()
    assert fired.calls == [(schedule.id, slot)]
    assert 0 < wait <= 5
    service.tick()
    assert len(fired.calls) == 1
    assert service.next_firing(schedule.id) == slot + dt.timedelta(days=1)
    with make_session_factory(engine)() as session:
        (run,) = schedules.runs_of_schedule(schedule.id, session=session)
    assert (run.procedure, run.cluster, run.channel) == ("backup", "lab", "C-ops")
    assert run.requested_by == f"schedule:{schedule.id}"
    assert run.scheduled_for == slot


def test_schedules_survive_a_restart(engine: Engine, fired: Fired, clock: Clock) -> None:
    first = _service(engine, fired, clock, "one")
    schedule = _schedule(engine, first, "30 1 * * sun")
    first.stop()
    again = _service(engine, fired, clock, "one")
    try:
        sunday = dt.datetime(2026, 12, 6, 1, 30, tzinfo=dt.UTC)
        assert again.next_firing(schedule.id) == sunday
        clock.at = sunday
        again.tick()
        assert fired.calls == [(schedule.id, sunday)]
    finally:
        again.stop()


def test_missed_firings_run_once_for_the_latest_slot(
    engine: Engine, service: ScheduleService, fired: Fired, clock: Clock
) -> None:
    schedule = _schedule(engine, service, "0 3 * * *")
    clock.advance(days=3)  # nobody was running at 03:00 on the 1st, 2nd and 3rd
    service.tick()
    latest = dt.datetime(2026, 12, 3, 3, 0, tzinfo=dt.UTC)
    assert fired.calls == [(schedule.id, latest)]
    assert service.next_firing(schedule.id) == dt.datetime(2026, 12, 4, 3, 0, tzinfo=dt.UTC)
    with make_session_factory(engine)() as session:
        missed = session.exec(select(TimelineEvent).where(TimelineEvent.kind == "schedule.missed")).all()
    assert len(missed) == 1
    assert "missed 2 firing(s)" in missed[0].summary


def test_only_the_lease_holder_fires_and_another_takes_over(
    engine: Engine, fired: Fired, clock: Clock
) -> None:
    one, two = _service(engine, fired, clock, "one"), _service(engine, fired, clock, "two")
    try:
        schedule = _schedule(engine, one, "*/5 * * * *")
        clock.at = dt.datetime(2026, 12, 1, 2, 59, 45, tzinfo=dt.UTC)
        one.tick()  # "one" takes the lease, good for 30 s
        clock.at = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
        two.tick()
        assert fired.calls == []  # "two" is not the holder
        one.tick()
        assert fired.calls == [(schedule.id, clock.at)]
        # "one" stops renewing (killed, not stopped): "two" waits while the lease holds...
        clock.advance(seconds=20)
        two.tick()
        assert fired.calls == [(schedule.id, dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC))]
        # ...and takes over once it has run out, firing the next slot (not the one "one" fired).
        clock.at = dt.datetime(2026, 12, 1, 3, 5, tzinfo=dt.UTC)
        two.tick()
        assert fired.calls[1:] == [(schedule.id, clock.at)]
    finally:
        two.stop()
        one.stop()


def test_a_firing_enqueued_twice_makes_one_run(
    engine: Engine, service: ScheduleService, clock: Clock
) -> None:
    schedule = _schedule(engine, service, "0 3 * * *")
    enqueue = FiringEnqueuer(make_session_factory(engine), lambda cluster: None)
    slot = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
    first, second = enqueue(schedule, slot), enqueue(schedule, slot)
    assert first is not None and first == second
    with make_session_factory(engine)() as session:
        assert len(schedules.runs_of_schedule(schedule.id, session=session)) == 1


def test_a_removed_schedule_never_fires(
    engine: Engine, service: ScheduleService, fired: Fired, clock: Clock
) -> None:
    schedule = _schedule(engine, service, "0 3 * * *")
    with make_session_factory(engine)() as session:
        schedules.delete_schedule(schedule.id, session=session, deleted_by="U-bob")
    service.remove(schedule.id)
    clock.advance(hours=1)
    service.tick()
    assert fired.calls == []
    assert service.next_firing(schedule.id) is None


def test_a_job_whose_schedule_row_is_gone_is_dropped(
    engine: Engine, service: ScheduleService, fired: Fired, clock: Clock
) -> None:
    """Removal in another process deletes the row first: the job left behind is cleaned, not fired."""
    schedule = _schedule(engine, service, "0 3 * * *")
    with make_session_factory(engine)() as session:
        schedules.delete_schedule(schedule.id, session=session, deleted_by="U-bob")
    clock.advance(hours=1)
    service.tick()
    assert fired.calls == []
    assert service.next_firing(schedule.id) is None
