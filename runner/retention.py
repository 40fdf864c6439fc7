"""Which backups a cluster's retention policy prunes (pure).

A policy keeps at most the last N backups, none older than a maximum age, and no more than a maximum
total size; any of the three may be unset. Whatever the policy says, the newest verified backup is never
pruned: it is what a restore would use, and a policy tightened by mistake must not leave a cluster with
nothing to restore from. Pruning walks the catalog newest first and keeps a backup only while every limit
still holds, so what is pruned is always the oldest end of the list.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RetentionPolicy:
    keep_last: int | None = None
    max_age: dt.timedelta | None = None
    max_total_bytes: int | None = None

    @property
    def unlimited(self) -> bool:
        return self.keep_last is None and self.max_age is None and self.max_total_bytes is None


@dataclass(frozen=True)
class CatalogEntry:
    id: int
    taken_at: dt.datetime
    size: int  # both files
    verified: bool


@dataclass(frozen=True)
class Pruning:
    keep: tuple[int, ...]
    prune: tuple[int, ...]
    reasons: dict[int, str]  # pruned id → which limit it broke


def plan_pruning(entries: Sequence[CatalogEntry], policy: RetentionPolicy, now: dt.datetime) -> Pruning:
    """Split the catalog into kept and pruned backup IDs (pure)."""
    newest_first = sorted(entries, key=lambda e: (e.taken_at, e.id), reverse=True)
    protected = next((e.id for e in newest_first if e.verified), None)
    keep: list[int] = []
    prune: list[int] = []
    reasons: dict[int, str] = {}
    kept_count = 0
    kept_bytes = 0
    for entry in newest_first:
        reason = _broken_limit(entry, policy, now, kept_count, kept_bytes)
        if reason is None or entry.id == protected:
            keep.append(entry.id)
            kept_count += 1
            kept_bytes += entry.size
        else:
            prune.append(entry.id)
            reasons[entry.id] = reason
    return Pruning(tuple(keep), tuple(prune), reasons)


def _broken_limit(
    entry: CatalogEntry, policy: RetentionPolicy, now: dt.datetime, kept_count: int, kept_bytes: int
) -> str | None:
    if policy.keep_last is not None and kept_count >= policy.keep_last:
        return f"beyond the last {policy.keep_last}"
    if policy.max_age is not None and now - entry.taken_at > policy.max_age:
        return f"older than {duration_text(policy.max_age)}"
    if policy.max_total_bytes is not None and kept_bytes + entry.size > policy.max_total_bytes:
        return f"over the {policy.max_total_bytes / 2**30:.1f} GiB total"
    return None


def duration_text(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
