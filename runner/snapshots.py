"""Checking an etcd snapshot file's own integrity hash, without etcd, in the same pass that copies it.

``etcdctl snapshot save`` appends the SHA-256 of the database to the file (a bolt file is a multiple of
512 bytes, so a size of 512·n + 32 means the hash is there); ``snapshot restore`` refuses a file whose
hash does not match. Checking it while the file streams off the master catches a damaged copy before
anyone relies on it, at no extra read: the digest of the body is a copy of the running SHA-256 taken
just before the last 32 bytes, and the whole file's SHA-256 (the catalog's checksum) is that same
running digest finished.
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


class Sha256Digest:
    """A plain streaming SHA-256 of a whole file (what ``sha256sum`` prints)."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._digest.update(chunk)
        self.size += len(chunk)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


class SnapshotDigest:
    """Fed a snapshot chunk by chunk: the whole file's SHA-256 and its appended-hash check, one pass."""

    def __init__(self) -> None:
        self._running = hashlib.sha256()
        self._held = b""  # the last bytes seen, which may be the appended hash
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if len(chunk) >= HASH_SIZE:
            self._running.update(self._held)
            self._running.update(memoryview(chunk)[: len(chunk) - HASH_SIZE])
            self._held = bytes(chunk[-HASH_SIZE:])
            return
        data = self._held + chunk
        self._running.update(data[: max(0, len(data) - HASH_SIZE)])
        self._held = data[-HASH_SIZE:]

    def hexdigest(self) -> str:
        whole = self._running.copy()
        whole.update(self._held)
        return whole.hexdigest()

    def check(self) -> SnapshotCheck:
        whole = self.hexdigest()
        if self.size % 512 != HASH_SIZE or len(self._held) != HASH_SIZE:
            return SnapshotCheck(
                False, whole, self.size, "the snapshot has no integrity hash (not from snapshot save)"
            )
        if self._running.digest() != self._held:
            return SnapshotCheck(
                False, whole, self.size, "the snapshot's integrity hash does not match its content"
            )
        return SnapshotCheck(True, whole, self.size)


def _feed(path: Path, digest: Sha256Digest | SnapshotDigest) -> None:
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)


def sha256_file(path: Path) -> str:
    digest = Sha256Digest()
    _feed(path, digest)
    return digest.hexdigest()


def check_snapshot(path: Path) -> SnapshotCheck:
    """Verify the appended hash of a snapshot on disk; also return the SHA-256 of the whole file."""
    digest = SnapshotDigest()
    _feed(path, digest)
    return digest.check()
