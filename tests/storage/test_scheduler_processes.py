"""Acceptance: two bot processes on one PostgreSQL — each scheduled firing produces exactly one run.

Real OS processes (``tests.storage.scheduler_worker``), each a threaded :class:`ScheduleService` on the
real clock with a real :class:`FiringEnqueuer`, poll 0.2 s and lease 2 s, share one freshly migrated
PostgreSQL database holding two schedules that fire every second (a cron trigger on whole seconds and
an interval trigger on fractional ones). The story, about 15 s long:

1. both processes start at once; one takes the lease and fires, the other only polls;
2. the lease holder is killed with SIGKILL (no release): the other takes over once the lease has run
   out, fires the latest slot due and records the ones nobody fired as missed;
3. the killed process is started again under the same holder name (a restarted bot keeps its name,
   ``etcdops@host``); it finds the lease held by the survivor and stays quiet;
4. the survivor is stopped cleanly (SIGTERM: it releases the lease), and the restarted one takes over
   at its next poll, without waiting for a lease to expire; then it is stopped cleanly too.

What must hold: every (schedule, slot) was fired by one process only and has exactly one run; each
process fired only while it held the lease (the holders' slots follow each other in time, never
interleave); every slot from a schedule's first to its last either has its run or is recorded missed
on the timeline — none is lost to the SIGKILL, since a firing is enqueued before its job moves on;
the gaps between consecutive runs are one second (two at most, on a stalled round),
except at the takeover after the kill (at least 2 s — the survivor waited for the lease — and at most
KILL_GAP_MAX = lease + poll + 3 s = 5.2 s) and at the clean handover (at most CLEAN_GAP_MAX = 3 s); and
nothing is left running, nor holding the lease, at the end.
"""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from runner.scheduler import ScheduleService
from storage import schedules
from storage.db import make_engine, make_session_factory
from storage.migrate import migrate
from storage.models import Run, Schedule, SchedulerLease, TimelineEvent
from tests.storage.conftest import PostgresServer
from tests.storage.scheduler_worker import LEASE_SECONDS, POLL_SECONDS

ROOT = Path(__file__).resolve().parents[2]
WORKER = "tests.storage.scheduler_worker"
WORKER_MAX_SECONDS = 60  # an orphaned worker stops by itself after this, whatever happens to the test
SLOT = dt.timedelta(seconds=1)
FIRINGS_PER_HOLDER = 3  # slots each holder must fire (per schedule) before the story moves on
# After the SIGKILL nobody fires until the lease runs out: the holder's last round (time r) fired every
# slot up to r (one enqueued but unreported perhaps), the survivor takes over by r + lease + poll and fires
# the latest slot due then; one more second for the slot's granularity and one for a loaded machine.
KILL_GAP_MAX = dt.timedelta(seconds=LEASE_SECONDS + POLL_SECONDS + 3)
KILL_GAP_MIN = dt.timedelta(seconds=2)  # the survivor did not take the lease before it ran out
# A clean stop releases the lease: the next process takes over at its next poll (0.2 s), so at most
# one slot goes unfired (and none usually), still with a second of slack for a loaded machine.
CLEAN_GAP_MAX = dt.timedelta(seconds=2 + 1)
# Within a tenure the holder fires every second; a round stalled past the next slot (a loaded machine)
# fires the latest slot only and records the skipped one as missed (checked below), hence the slack.
TENURE_GAP_MAX = dt.timedelta(seconds=2)
WAIT_SECONDS = 20.0  # the longest any single step of the story may take before the test gives up


@dataclass
class Worker:
    """One worker process, its stdout (the ``fired`` lines) and stderr (its log) in files."""

    holder: str
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path
    label: str

    def lines(self) -> list[list[str]]:
        return [line.split() for line in self.out.read_text().splitlines() if line.strip()]

    def started(self) -> bool:
        return any(words[0] == "started" for words in self.lines())

    def stopped(self) -> bool:
        return any(words[0] == "stopped" for words in self.lines())

    def fired(self) -> list[tuple[str, dt.datetime, str]]:
        """(schedule id, slot, run id) of each firing, in the order the worker made them."""
        return [
            (words[1], dt.datetime.fromisoformat(words[2]), words[3])
            for words in self.lines()
            if words[0] == "fired"
        ]

    def fired_of(self, schedule_id: str) -> list[dt.datetime]:
        return [slot for sid, slot, _ in self.fired() if sid == schedule_id]

    def describe(self) -> str:
        code = self.proc.poll()
        return (
            f"--- worker {self.label} (holder {self.holder}, pid {self.proc.pid}, exit {code}) stdout:\n"
            f"{self.out.read_text()}\n--- stderr:\n{self.err.read_text()[-4000:]}"
        )


class Story:
    """The workers started so far, so that failures show their output and cleanup finds them all."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url = url
        self.folder = folder
        self.workers: list[Worker] = []

    def launch(self, holder: str, label: str) -> Worker:
        out, err = self.folder / f"{label}.out", self.folder / f"{label}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", WORKER, self.url, holder, str(WORKER_MAX_SECONDS)],
                cwd=ROOT,
                stdout=stdout,
                stderr=stderr,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        worker = Worker(holder, proc, out, err, label)
        self.workers.append(worker)
        return worker

    def wait_for(self, what: str, done: Callable[[], bool], timeout: float = WAIT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            for worker in self.workers:
                if worker.proc.poll() not in (None, -signal.SIGKILL, 0):
                    pytest.fail(f"worker {worker.label} died while waiting for {what}\n{self.report()}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{self.report()}")
            time.sleep(0.05)

    def stop(self, worker: Worker) -> None:
        """SIGTERM: the worker stops its scheduler, releases the lease and exits 0."""
        worker.proc.send_signal(signal.SIGTERM)
        try:
            code = worker.proc.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker {worker.label} did not stop on SIGTERM\n{self.report()}")
        assert code == 0, self.report()
        assert worker.stopped(), self.report()

    def cleanup(self) -> None:
        for worker in self.workers:
            if worker.proc.poll() is None:
                worker.proc.kill()
        for worker in self.workers:
            worker.proc.wait(timeout=10)

    def report(self) -> str:
        return "\n".join(worker.describe() for worker in self.workers)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A new, migrated database on the throwaway PostgreSQL (processes need a real server to share)."""
    name = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(postgres_server.admin_conninfo(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = postgres_server.url(name)
        migrate(url)
        yield url
    finally:
        with psycopg.connect(postgres_server.admin_conninfo(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    made = make_engine(postgres_url)
    yield made
    made.dispose()


def _add_schedules(engine: Engine) -> dict[str, dt.datetime]:
    """Two schedules firing every second; the first slot of each, as the job store holds it."""
    sessions = make_session_factory(engine)
    setup = ScheduleService(
        engine, sessions, lambda schedule, slot: None, holder="test-setup", threaded=False
    ).start()
    triggers = {
        "verify": CronTrigger(second="*", timezone=dt.UTC),
        "health": IntervalTrigger(seconds=1, timezone=dt.UTC),
    }
    first: dict[str, dt.datetime] = {}
    try:
        for kind, trigger in triggers.items():
            with sessions() as session:
                schedule = schedules.create_schedule(
                    session=session,
                    kind=kind,
                    cron="every second (test)",
                    cluster="lab",
                    channel=None,
                    created_by="U-alice",
                )
            slot = setup.add(schedule.id, trigger)
            assert slot is not None
            first[schedule.id] = slot
    finally:
        setup.stop()  # never ticked: it never held the lease, and its release is a no-op
    return first


def _lease_holder(engine: Engine) -> str | None:
    with make_session_factory(engine)() as session:
        lease = session.exec(select(SchedulerLease)).first()
        return lease.holder if lease is not None else None


def _gaps(slots: list[dt.datetime]) -> list[dt.timedelta]:
    return [later - earlier for earlier, later in itertools.pairwise(slots)]


@pytest.mark.timeout(90)
def test_two_processes_on_one_postgresql_make_one_run_per_firing(engine: Engine, tmp_path: Path) -> None:
    began = time.monotonic()
    first = _add_schedules(engine)
    ids = sorted(first)
    story = Story(engine.url.render_as_string(hide_password=False), tmp_path)

    def fired_enough(worker: Worker) -> Callable[[], bool]:
        return lambda: all(len(worker.fired_of(sid)) >= FIRINGS_PER_HOLDER for sid in ids)

    try:
        # 1. Both start at once; whichever takes the lease fires, the other only polls.
        one, two = story.launch("one", "one"), story.launch("two", "two")
        story.wait_for("both workers to start", lambda: one.started() and two.started())
        story.wait_for(
            "the lease holder to fire",
            lambda: any(fired_enough(worker)() for worker in (one, two)),
        )
        holder = _lease_holder(engine)
        victim, survivor = (one, two) if holder == "one" else (two, one)
        assert holder == victim.holder, story.report()
        assert survivor.fired() == [], f"the process without the lease fired\n{story.report()}"

        # 2. SIGKILL the holder: no release; the survivor must wait for the lease to run out.
        victim.proc.send_signal(signal.SIGKILL)
        assert victim.proc.wait(timeout=WAIT_SECONDS) == -signal.SIGKILL
        killed_at = time.monotonic()
        story.wait_for("the survivor to take over", fired_enough(survivor))
        took_over_after = time.monotonic() - killed_at
        assert _lease_holder(engine) == survivor.holder, story.report()

        # 3. The killed process comes back under its holder name and finds the lease taken.
        again = story.launch(victim.holder, f"{victim.holder}-restarted")
        story.wait_for("the restarted worker to start", again.started)
        time.sleep(2 * POLL_SECONDS + 0.5)  # a few of its rounds, while the survivor keeps firing
        assert again.fired() == [], f"the restarted process fired without the lease\n{story.report()}"

        # 4. A clean stop releases the lease: the restarted process takes over at its next poll.
        story.stop(survivor)
        story.wait_for("the restarted worker to take over", fired_enough(again))
        story.stop(again)
        assert _lease_holder(engine) is None, "a clean stop must release the lease"
    finally:
        story.cleanup()
    assert all(worker.proc.poll() is not None for worker in story.workers), "a worker is still running"
    for worker in story.workers:
        assert "Traceback" not in worker.err.read_text(), story.report()
        assert "scheduler round failed" not in worker.err.read_text(), story.report()

    with make_session_factory(engine)() as session:
        runs = session.exec(select(Run).where(col(Run.schedule_id).in_(ids))).all()
        missed_query = select(TimelineEvent).where(TimelineEvent.kind == "schedule.missed")
        missed_events = session.exec(missed_query).all()
        kinds = {s.id: s.kind for s in session.exec(select(Schedule)).all()}
    tenures = (victim, survivor, again)
    observed: dict[str, object] = {"took_over_after_kill_s": round(took_over_after, 2)}
    for sid in ids:
        mine = [run for run in runs if run.schedule_id == sid]
        slots = sorted(run.scheduled_for for run in mine if run.scheduled_for is not None)
        assert len(slots) == len(mine)
        # Not vacuous: each of the three holders fired this schedule several times.
        assert len(slots) >= 3 * FIRINGS_PER_HOLDER, story.report()
        # Exactly one run per slot...
        per_slot = collections.Counter(slots)
        assert [slot for slot, count in per_slot.items() if count > 1] == []
        # ...and fired by one process only: the lease kept the work single, not just the constraint.
        fired = [(slot, worker.label) for worker in tenures for slot in worker.fired_of(sid)]
        twice = collections.Counter(slot for slot, _ in fired)
        assert [slot for slot, count in twice.items() if count > 1] == [], story.report()
        run_of = {run.scheduled_for: run.id for run in mine}
        for worker in tenures:
            for fsid, slot, run_id in worker.fired():
                if fsid == sid:
                    assert run_of.get(slot) == run_id, f"{worker.label} fired {slot} as {run_id}"
        # A run nobody reported can only be the victim's last, enqueued just before the SIGKILL landed.
        unreported = sorted(set(slots) - {slot for slot, _ in fired})
        assert len(unreported) <= 1, unreported
        # Each holder fired only during its tenure: the holders' slots follow each other in time.
        spans = [worker.fired_of(sid) for worker in tenures]
        assert all(span for span in spans), "each of the three processes fired while holding the lease"
        assert spans[0] == sorted(spans[0]) and max(spans[0]) < min(spans[1]), story.report()
        assert spans[1] == sorted(spans[1]) and max(spans[1]) < min(spans[2]), story.report()
        assert spans[2] == sorted(spans[2])
        # Gaps: one second within a tenure (two on a stall); the takeovers within their bounds.
        kill_gap = min(spans[1]) - max(unreported + spans[0])
        clean_gap = min(spans[2]) - max(spans[1])
        assert KILL_GAP_MIN <= kill_gap <= KILL_GAP_MAX, (kill_gap, story.report())
        assert SLOT <= clean_gap <= CLEAN_GAP_MAX, (clean_gap, story.report())
        assert max(_gaps(slots)) <= KILL_GAP_MAX
        within = [gap for span in spans for gap in _gaps(span)]
        assert all(SLOT <= gap <= TENURE_GAP_MAX for gap in within), (within, story.report())
        # Every slot from the first to the last ran or was recorded missed: none lost to the SIGKILL.
        span_slots = round((slots[-1] - first[sid]) / SLOT) + 1
        missed = sum(int(e.details["missed"]) for e in missed_events if e.details.get("schedule_id") == sid)
        lost = span_slots - len(slots) - missed
        assert lost == 0, (span_slots, len(slots), missed, story.report())
        observed[f"{kinds[sid]}:{sid}"] = {
            "runs": len(slots),
            "missed": missed,
            "lost": lost,
            "kill_gap_s": kill_gap.total_seconds(),
            "clean_gap_s": clean_gap.total_seconds(),
            "per_holder": [len(span) for span in spans],
        }
    observed["test_seconds"] = round(time.monotonic() - began, 1)
    print(observed)
