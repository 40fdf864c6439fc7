"""The runner as a service: worker threads that claim runs and execute them until stopped.

Several workers let a quick ``/etcd status`` run while a long backup is in progress. Workers hold back
from claiming while Slack commands are being recorded in this process, so a burst is acked first. At start the
service releases the runs still claimed under its own worker name — left by an earlier process of the
same worker that was killed — so they resume at once instead of after their lease runs out.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from runner.engine import Engine
from storage import runs
from storage.db import seconds_since_urgent_write

log = logging.getLogger(__name__)


@dataclass
class RunnerService:
    engine: Engine
    workers: int = 4
    poll_interval: float = 0.2
    yield_to_acks: float = 0.1
    stopping: threading.Event = field(default_factory=threading.Event)  # shared with the approval gate
    _threads: list[threading.Thread] = field(default_factory=list, init=False)

    def start(self) -> RunnerService:
        with self.engine.sessions() as session:
            resumed = runs.release_claims_of(self.engine.worker, session=session)
        if resumed:
            log.info("resuming runs left by an earlier %s: %s", self.engine.worker, ", ".join(resumed))
        for index in range(self.workers):
            thread = threading.Thread(target=self._loop, name=f"runner-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _loop(self) -> None:
        while not self.stopping.is_set():
            with self.engine.sessions() as session:
                quiet = seconds_since_urgent_write(session)
            if quiet < self.yield_to_acks:
                # Slack commands are being recorded in this process right now (a burst): each has 3 s
                # to be acked, a run waiting a few more milliseconds to start has no deadline.
                self.stopping.wait(self.yield_to_acks - quiet)
                continue
            try:
                claimed = self.engine.run_once()
            except Exception:  # one broken run must not stop the worker: it is logged and the loop goes on
                log.exception("the runner failed while executing a run")
                claimed = None
            if claimed is None:
                self.stopping.wait(self.poll_interval)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming; runs in progress finish their current step (or are resumed after a restart)."""
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
