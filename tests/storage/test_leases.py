"""A named lease held by one process at a time: the relay's, so that replicas post each message once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine

from storage.db import make_session_factory
from storage.leases import LeaseKeeper

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> dt.datetime:
        return self.at


def test_one_holder_at_a_time_and_takeover(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    clock = Clock()
    ttl = dt.timedelta(seconds=10)
    a = LeaseKeeper(sessions, "relay", "replica-a", ttl, clock)
    b = LeaseKeeper(sessions, "relay", "replica-b", ttl, clock)
    other = LeaseKeeper(sessions, "scheduler", "replica-b", ttl, clock)
    assert a.held() and not b.held()
    assert other.held()  # another name is another lease
    clock.at += dt.timedelta(seconds=6)
    assert a.held()  # renewed (past half its time): good until T0 + 16 s
    clock.at += dt.timedelta(seconds=9)
    assert not b.held()
    clock.at += dt.timedelta(seconds=2)  # a stopped renewing at T0 + 6 s: its lease ran out at T0 + 16 s
    assert b.held() and not a.held()
    b.release()
    assert a.held()  # a clean hand-over: at once


def test_a_restarted_process_with_the_same_name_takes_its_lease_back_at_once(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    clock = Clock()
    ttl = dt.timedelta(seconds=30)
    assert LeaseKeeper(sessions, "relay", "etcdops@host", ttl, clock).held()
    clock.at += dt.timedelta(seconds=1)
    assert LeaseKeeper(sessions, "relay", "etcdops@host", ttl, clock).held()  # killed, restarted
    assert not LeaseKeeper(sessions, "relay", "etcdops@other", ttl, clock).held()
