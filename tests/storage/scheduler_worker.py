"""One etcdops process's scheduler, alone in its own OS process: the worker that
``test_scheduler_processes`` starts twice (and kills, and starts again) on one PostgreSQL database.

    python -m tests.storage.scheduler_worker DATABASE_URL HOLDER SECONDS

It runs what the bot runs — a threaded :class:`ScheduleService` (real clock) whose ``fire`` is a real
:class:`FiringEnqueuer` — with a short poll and lease so a takeover happens within seconds, and no
runner (the runs it enqueues stay pending). It stops cleanly (releasing the lease) on SIGTERM or after
SECONDS, whichever comes first; SECONDS only bounds an orphan's life. On stdout, one line per event,
flushed as it happens so that a SIGKILL loses nothing already written:

    started HOLDER PID
    fired SCHEDULE_ID SLOT RUN_ID      (after the run is enqueued; SLOT is ISO 8601)
    stopped HOLDER
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import sys
import threading
import time
from types import FrameType

from runner.firing import FiringEnqueuer
from runner.scheduler import ScheduleService
from storage.db import make_engine, make_session_factory
from storage.models import Schedule

POLL_SECONDS = 0.2
LEASE_SECONDS = 2.0


def say(*words: object) -> None:
    print(*words, flush=True)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m tests.storage.scheduler_worker DATABASE_URL HOLDER SECONDS", file=sys.stderr)
        return 2
    url, holder, seconds = argv[0], argv[1], float(argv[2])
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s {holder} %(name)s %(levelname)s %(message)s",
    )
    stopping = threading.Event()

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_term)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    enqueue = FiringEnqueuer(sessions, lambda cluster: "C-ops")

    def fire(schedule: Schedule, slot: dt.datetime) -> str | None:
        run_id = enqueue(schedule, slot)
        say("fired", schedule.id, slot.isoformat(), run_id)
        return run_id

    service = ScheduleService(
        engine,
        sessions,
        fire,
        holder=holder,
        poll_seconds=POLL_SECONDS,
        lease_seconds=LEASE_SECONDS,
    )
    service.start()
    say("started", holder, os.getpid())
    deadline = time.monotonic() + seconds
    try:
        while not stopping.wait(0.05) and time.monotonic() < deadline:
            pass
    finally:
        service.stop()
        engine.dispose()
    say("stopped", holder)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
