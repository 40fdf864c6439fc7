"""Where backups are kept once they are off the cluster: the backup store port and what its adapters share.

A backup run copies its two files into a store and records in the catalog where they went and their
SHA-256; a restore fetches them back and compares what it read with the catalog. Two adapters implement
the port: a local folder (the default) and an S3-compatible bucket (the off-site option).

Both lay backups out the same way (:func:`backup_path`). The static-resources tarball of a cluster with
etcd encryption on holds the encryption keys, so it goes under its own ``static-resources/`` prefix: keys
and the snapshot they decrypt can then be access-controlled (and lost) apart.

A store never trusts its own bookkeeping over the bytes: ``put`` checks what was stored against the
caller's SHA-256 before it answers, and ``fetch`` reports the SHA-256 of what it actually read, so damage
done after the backup is found by comparing with the catalog, not hidden by it.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from runner.snapshots import Sha256Digest

STATIC_RESOURCES_FOLDER = "static-resources"
CHUNK = 1024 * 1024
UNKNOWN_SHA256 = ""  # what ``stat`` reports when the store cannot vouch for an object's content
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class StoredFile:
    """One file in a store. ``location`` is what the catalog records: ``s3://bucket/key`` or an absolute
    local path. ``sha256`` is the hex SHA-256 of the whole file, or :data:`UNKNOWN_SHA256` when ``stat``
    cannot vouch for it (an object the store did not write, or overwritten since): never equal to a real
    checksum, so a comparison with the catalog fails safe."""

    location: str
    size: int
    sha256: str

    def matches(self, *, size: int, sha256: str) -> bool:
        """Is this the file the catalog describes (same size, same known SHA-256)?"""
        return self.sha256 != UNKNOWN_SHA256 and self.size == size and self.sha256 == sha256.lower()


class StoreError(Exception):
    """A store could not do what was asked. The message says what failed and what to check (folder,
    bucket, endpoint, credentials), never a secret; ``retryable`` says whether trying again may help (a
    network blip, a copy damaged on the way) or a person must act first (a wrong bucket name, a missing
    permission, a full disk)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class BackupStore(Protocol):
    """Somewhere backup files are kept: a local folder, or an S3-compatible bucket off-site."""

    def describe(self) -> str:
        """Where backups go, for people (``s3://bucket/prefix/``, a folder); never a secret."""
        ...

    def locate(self, *, cluster: str, run_id: str, name: str, secret: bool = False) -> str:
        """The location ``put`` gives such a file (to look for it after a crash, without putting it)."""
        ...

    def put(
        self, source: Path, *, cluster: str, run_id: str, name: str, sha256: str, secret: bool = False
    ) -> StoredFile:
        """Copy a local file in, at :func:`backup_path`. What the store holds afterwards is checked
        (size and SHA-256 against ``sha256``) before this returns; on a mismatch nothing is left under
        the name and :class:`StoreError` is raised. Putting the same file again is harmless. ``secret``
        marks the static-resources tarball of an encrypted cluster (it holds the encryption keys)."""
        ...

    def stat(self, location: str) -> StoredFile | None:
        """Size and SHA-256 of a stored file without downloading it (the SHA-256 is
        :data:`UNKNOWN_SHA256` when the store cannot vouch for it); None when it is missing."""
        ...

    def fetch(self, location: str, destination: Path) -> StoredFile:
        """Copy a stored file to ``destination`` (a partial copy never keeps the name), returning the
        size and SHA-256 of the bytes actually read: the caller compares them with the catalog."""
        ...

    def delete(self, location: str) -> None:
        """Remove a stored file; deleting one that is already gone is fine."""
        ...


def backup_path(*, cluster: str, run_id: str, name: str, secret: bool) -> str:
    """The layout shared by every store, relative to its root or prefix: ``cluster/run/name``, and
    ``static-resources/cluster/run/name`` for secret files."""
    for kind, value in (("cluster", cluster), ("run id", run_id), ("file name", name)):
        if not _SEGMENT.match(value) or value in {".", ".."}:
            raise StoreError(f"{kind} {value!r} cannot be used in a backup's path (letters, digits, . _ -)")
    if cluster == STATIC_RESOURCES_FOLDER:
        raise StoreError(
            f"a cluster named {STATIC_RESOURCES_FOLDER!r} would share the folder that keeps encryption "
            "keys apart; rename it in the clusters file"
        )
    path = f"{cluster}/{run_id}/{name}"
    return f"{STATIC_RESOURCES_FOLDER}/{path}" if secret else path


def checked_sha256(sha256: str) -> str:
    """The caller's checksum in the one form stores compare (64 lowercase hex digits)."""
    normalized = sha256.strip().lower()
    if not _SHA256.match(normalized):
        raise StoreError(f"{sha256!r} is not a SHA-256 (64 hex digits)")
    return normalized


def write_file(
    chunks: Iterable[bytes], destination: Path, *, expected_sha256: str | None = None
) -> Sha256Digest:
    """Write ``chunks`` to ``destination`` through a temporary file beside it, hashing every byte as it is
    written. The file takes its name only once complete, flushed to disk and (when ``expected_sha256`` is
    given) matching it; otherwise the temporary file is removed and the name keeps what it had. Files are
    created readable by their owner only: a snapshot holds every secret of the cluster."""
    digest = Sha256Digest()
    folder = destination.parent
    handle, temporary = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".partial", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in chunks:
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if expected_sha256 is not None and digest.hexdigest() != expected_sha256:
            raise StoreError(
                f"the copy written to {destination} has SHA-256 {digest.hexdigest()}, not {expected_sha256}: "
                "the source changed or was damaged; nothing was kept",
                retryable=True,
            )
        os.replace(temporary, destination)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return digest


def read_chunks(path: Path) -> Iterable[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk
