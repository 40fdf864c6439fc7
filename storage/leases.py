"""A named lease in the database, held by one process at a time and renewed as it goes.

Some work must happen in one process only, however many replicas run: posting the timeline to Slack
(two relays would post every message twice) and firing schedules. Each uses a row of the lease table
(``scheduler_lease``, keyed by name). The keeper renews when half the lease is used up, so a holder
costs one UPDATE every few seconds, not one per loop; a holder that stops renewing (killed, frozen)
loses the lease once it runs out, and another replica takes over.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

from storage.db import SessionFactory
from storage.schedules import hold_lease, release_lease


class LeaseKeeper:
    def __init__(
        self,
        sessions: SessionFactory,
        name: str,
        holder: str,
        ttl: dt.timedelta,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._sessions = sessions
        self._name = name
        self._holder = holder
        self._ttl = ttl
        self._now = now
        self._until: dt.datetime | None = None
        self._lock = threading.Lock()

    def held(self) -> bool:
        """Whether this process holds the lease now (taking or renewing it when due)."""
        with self._lock:
            now = self._now()
            if self._until is not None and now < self._until - self._ttl / 2:
                return True
            with self._sessions() as session:
                taken = hold_lease(self._holder, session=session, now=now, ttl=self._ttl, name=self._name)
            self._until = now + self._ttl if taken else None
            return taken

    def release(self) -> None:
        """Hand the lease over at once (a clean stop), instead of when it runs out."""
        with self._lock:
            if self._until is None:
                return
            self._until = None
            with self._sessions() as session:
                release_lease(self._holder, session=session, name=self._name)
