"""Judging a backup after a scratch restore, pure: does what came back match what the catalog promised?

A checksum only proves the stored bytes are the ones copied; it cannot prove etcd will accept them. The
scratch restore (``runner.adapters.scratch_etcd``) does that, and reports what it saw; this module
compares those facts with the catalog entry and says ``ok`` or ``failed: <why>`` in words an SRE can act
on at 3 a.m. It also flags backups a restore would refuse because the cluster has left their z-stream.

What the catalog's key count is, and why it is compared with the file and not with the scratch etcd:
the backup step records ``etcdutl snapshot status`` of the snapshot, whose ``totalKey`` counts every
entry of every bolt bucket — each stored revision of each key in the ``key`` bucket (old versions and
deletion tombstones that compaction has not removed yet), plus the ``meta``, ``members``, ``cluster``,
``lease``, ``auth`` and ``alarm`` entries — and whose ``revision`` is the newest revision left in the
``key`` bucket. Neither is what a running etcd reports: a restore rewrites the membership and the
consistent index, and etcd reports live keys only. So the catalog's two numbers are checked against
``snapshot status`` of the fetched file (same tool, same bytes: they must agree exactly), and the
scratch etcd is checked against the file: it must serve the snapshot's revision (or a later one only
when compaction removed the newest revisions, which were then deletions), and its live keys — at least
one stored revision each — can never outnumber the file's entries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SHORT_HASH = 12


@dataclass(frozen=True)
class CatalogFacts:
    """What the catalog recorded when the backup was taken (revision and key count may be missing)."""

    sha256: str
    size: int
    revision: int | None
    key_count: int | None


@dataclass(frozen=True)
class FileFacts:
    """The fetched snapshot file, measured as it came out of the backup store."""

    sha256: str
    size: int


@dataclass(frozen=True)
class SnapshotStatus:
    """``etcdutl snapshot status -w json`` of the file (``totalKey`` is every bolt entry, see above)."""

    revision: int
    total_keys: int
    total_size: int


@dataclass(frozen=True)
class ScratchFacts:
    """What the scratch restore saw. ``error`` says why it stopped early; what it read before stays."""

    status: SnapshotStatus | None = None
    revision: int | None = None  # the scratch etcd's current revision, once it served
    live_keys: int | None = None  # keys it serves (count of a range over the whole keyspace)
    compacted_past_snapshot: bool = False  # its revision is a compaction beyond the newest stored one
    etcd_version: str = ""
    seconds: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str  # why it failed; when ok, what was checked

    def __str__(self) -> str:
        """The catalog's ``verify_result`` form: ``ok`` or ``failed: <reason>``."""
        return "ok" if self.ok else f"failed: {self.reason}"


def _short(digest: str) -> str:
    return digest[:SHORT_HASH] + "…"


def _file_problems(expected: CatalogFacts, measured: FileFacts) -> list[str]:
    if measured.size != expected.size:
        return [
            f"the stored snapshot is {measured.size:,} bytes but the catalog recorded {expected.size:,}: "
            "it was truncated or replaced in the backup store"
        ]
    if measured.sha256.lower() != expected.sha256.lower():
        return [
            f"the stored snapshot's SHA-256 is {_short(measured.sha256)} but the catalog recorded "
            f"{_short(expected.sha256)}: the file changed in the backup store since it was taken"
        ]
    return []


def _status_problems(expected: CatalogFacts, status: SnapshotStatus) -> list[str]:
    problems = []
    if expected.revision is not None and status.revision != expected.revision:
        problems.append(
            f"etcdutl reads revision {status.revision:,} from the file, but the catalog recorded "
            f"{expected.revision:,}"
        )
    if expected.key_count is not None and status.total_keys != expected.key_count:
        problems.append(
            f"the file holds {status.total_keys:,} database entries (etcdutl's totalKey), but the catalog "
            f"recorded {expected.key_count:,}"
        )
    return problems


def _scratch_problems(scratch: ScratchFacts, status: SnapshotStatus) -> list[str]:
    problems = []
    if scratch.revision is None:
        problems.append("the scratch etcd never reported its revision")
    elif scratch.revision != status.revision and not (
        scratch.revision > status.revision and scratch.compacted_past_snapshot
    ):
        problems.append(
            f"the restored etcd serves revision {scratch.revision:,}, but the snapshot's newest revision is "
            f"{status.revision:,}: it did not come back at the point in time the backup holds"
        )
    if scratch.live_keys is None:
        problems.append("the scratch etcd never reported how many keys it serves")
    elif scratch.live_keys == 0:
        problems.append("the restored etcd holds no keys at all: this is a snapshot of an empty etcd")
    elif scratch.live_keys > status.total_keys:
        problems.append(
            f"the restored etcd serves {scratch.live_keys:,} keys, more than the {status.total_keys:,} "
            "entries in the file: the restore did not read this file"
        )
    return problems


def judge(expected: CatalogFacts, measured: FileFacts, scratch: ScratchFacts) -> Verdict:
    """``ok`` when the stored file is the catalogued one, etcd restored it, and the restored etcd is at
    the snapshot's point in time; otherwise every problem found, most fundamental first."""
    problems = _file_problems(expected, measured)
    if scratch.error:
        problems.append(f"a scratch restore failed: {scratch.error}")
    if scratch.status is not None:
        problems += _status_problems(expected, scratch.status)
        if not scratch.error:
            problems += _scratch_problems(scratch, scratch.status)
    elif not scratch.error:
        problems.append("etcdutl snapshot status gave nothing to compare")
    if problems:
        return Verdict(False, "; ".join(problems))
    return Verdict(True, _what_was_checked(expected, scratch))


def _what_was_checked(expected: CatalogFacts, scratch: ScratchFacts) -> str:
    assert scratch.status is not None and scratch.revision is not None and scratch.live_keys is not None
    etcd = f"etcd {scratch.etcd_version}" if scratch.etcd_version else "etcd"
    counts = (
        "its revision and entry count match the catalog"
        if expected.revision is not None and expected.key_count is not None
        else "the catalog has no revision or key count to compare"
    )
    return (
        f"size and SHA-256 match the catalog; restored into a scratch {etcd} in {scratch.seconds:.1f} s, "
        f"which served {scratch.live_keys:,} keys at revision {scratch.revision:,}; the file holds "
        f"{scratch.status.total_keys:,} database entries and {counts}"
    )


_RELEASE = re.compile(r"^(\d+)\.(\d+)\.(\d+)")
_UNKNOWN = {"", "unknown"}


def _release(version: str) -> tuple[int, int, int] | None:
    match = _RELEASE.match(version)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def _normal(version: str | None) -> str:
    return (version or "").strip().removeprefix("v")


def zstream_flag(backup_version: str, cluster_version: str | None) -> str | None:
    """None when the backup can be restored on the cluster's current release; otherwise why not, or why
    that cannot be told. A restore needs a backup from exactly the cluster's z-stream (4.14.10 restores on
    4.14.10 only), so a backup goes stale as soon as the cluster is updated."""
    backup, cluster = _normal(backup_version), _normal(cluster_version)
    if cluster.lower() in _UNKNOWN:
        return "cannot tell whether it restores on this cluster: the cluster's OpenShift version is unknown"
    if backup.lower() in _UNKNOWN:
        return "cannot tell whether it restores on this cluster: its OpenShift version was not recorded"
    if backup == cluster:
        return None
    taken, running = _release(backup), _release(cluster)
    if taken and running and taken < running:
        why = "the cluster has been updated since"
    elif taken and running and taken > running:
        why = "it is from a newer release than the cluster runs"
    else:
        why = "a different build"
    return (
        f"not restorable on the current z-stream: taken on OpenShift {backup}, the cluster runs {cluster} "
        f"({why}); a restore needs a backup from the same z-stream"
    )
