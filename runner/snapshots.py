"""Checking an etcd snapshot file's own integrity hash, without etcd.

``etcdctl snapshot save`` appends the SHA-256 of the database to the file (a bolt file is a multiple of
512 bytes, so a size of 512·n + 32 means the hash is there); ``snapshot restore`` refuses a file whose
hash does not match. Checking it right after copying catches a damaged copy before anyone relies on it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

HASH_SIZE = 32
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class SnapshotCheck:
    ok: bool
    file_sha256: str
    size: int
    reason: str = ""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_snapshot(path: Path) -> SnapshotCheck:
    """Verify the appended hash; also return the SHA-256 of the whole file (the catalog's checksum)."""
    size = path.stat().st_size
    whole = hashlib.sha256()
    if size % 512 != HASH_SIZE:
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                whole.update(chunk)
        return SnapshotCheck(
            False, whole.hexdigest(), size, "the snapshot has no integrity hash (not from snapshot save)"
        )
    body = hashlib.sha256()
    remaining = size - HASH_SIZE
    with path.open("rb") as f:
        while remaining > 0:
            chunk = f.read(min(CHUNK, remaining))
            if not chunk:
                break
            body.update(chunk)
            whole.update(chunk)
            remaining -= len(chunk)
        stored = f.read(HASH_SIZE)
        whole.update(stored)
    if body.digest() != stored:
        return SnapshotCheck(
            False, whole.hexdigest(), size, "the snapshot's integrity hash does not match its content"
        )
    return SnapshotCheck(True, whole.hexdigest(), size)
