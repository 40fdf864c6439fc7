"""The retention planner: each limit alone, together, and the newest verified backup never pruned."""

from __future__ import annotations

import datetime as dt

from runner.retention import CatalogEntry, RetentionPolicy, plan_pruning

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
GIB = 2**30


def _daily(count: int, *, size: int = GIB, verified: bool = True) -> list[CatalogEntry]:
    """Backup 1 is the oldest, ``count`` the newest, one a day up to now."""
    return [CatalogEntry(i, NOW - dt.timedelta(days=count - i), size, verified) for i in range(1, count + 1)]


def test_no_limit_keeps_everything() -> None:
    planned = plan_pruning(_daily(5), RetentionPolicy(), NOW)
    assert planned.prune == () and planned.keep == (5, 4, 3, 2, 1)
    assert RetentionPolicy().unlimited and not RetentionPolicy(keep_last=1).unlimited


def test_keep_last_prunes_the_oldest() -> None:
    planned = plan_pruning(_daily(5), RetentionPolicy(keep_last=3), NOW)
    assert planned.keep == (5, 4, 3) and planned.prune == (2, 1)
    assert planned.reasons[1] == "beyond the last 3"


def test_max_age_prunes_what_is_older() -> None:
    planned = plan_pruning(_daily(5), RetentionPolicy(max_age=dt.timedelta(days=2)), NOW)
    assert planned.keep == (5, 4, 3) and planned.prune == (2, 1)
    assert planned.reasons[2] == "older than 2d"


def test_max_total_size_keeps_the_newest_that_fit() -> None:
    planned = plan_pruning(_daily(5), RetentionPolicy(max_total_bytes=2 * GIB + 1), NOW)
    assert planned.keep == (5, 4) and planned.prune == (3, 2, 1)
    assert "GiB total" in planned.reasons[3]


def test_the_strictest_limit_wins() -> None:
    policy = RetentionPolicy(keep_last=4, max_age=dt.timedelta(days=10), max_total_bytes=3 * GIB)
    assert plan_pruning(_daily(6), policy, NOW).keep == (6, 5, 4)


def test_the_newest_verified_backup_is_never_pruned() -> None:
    entries = _daily(4)
    entries[3] = CatalogEntry(4, entries[3].taken_at, GIB, verified=False)  # the newest failed verification
    entries[2] = CatalogEntry(3, entries[2].taken_at, GIB, verified=False)
    planned = plan_pruning(entries, RetentionPolicy(keep_last=1), NOW)
    assert planned.keep == (4, 2), "the newest, and the newest verified one"
    assert planned.prune == (3, 1)
    too_old = plan_pruning(_daily(3), RetentionPolicy(max_age=dt.timedelta(hours=1)), NOW)
    assert too_old.keep == (3,), "even when every backup is too old, the newest verified one stays"


def test_ties_in_time_are_ordered_by_id() -> None:
    same = [CatalogEntry(i, NOW, GIB, True) for i in (7, 9, 8)]
    assert plan_pruning(same, RetentionPolicy(keep_last=1), NOW).keep == (9,)
