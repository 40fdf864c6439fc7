"""The default backup store: a folder on the bot's machine (a mounted volume in a deployment).

Layout under the root: ``<cluster>/<run>/<file>``, and the static-resources tarball of an encrypted
cluster under the sibling ``static-resources/<cluster>/<run>/<file>``, whose folders are private to the
bot's user (the tarball holds the etcd encryption keys).

``put`` hashes the bytes as it writes them and gives the file its name only when they match the caller's
SHA-256, so a bad copy never sits under a backup's name (not even over a good one). Reading the copy back
would add nothing: the page cache would answer. ``stat`` hashes the file instead of keeping a checksum
beside it, because a sidecar cannot see damage done in place; a local disk reads a snapshot in seconds.
"""

from __future__ import annotations

import errno
from pathlib import Path

from runner.snapshots import sha256_file
from runner.stores import (
    STATIC_RESOURCES_FOLDER,
    StoredFile,
    StoreError,
    backup_path,
    checked_sha256,
    read_chunks,
    write_file,
)


class LocalFolderStore:
    """Backups in a local folder (``backup_store: {type: local, path: ...}``)."""

    def __init__(self, root: Path) -> None:
        self._root = root.expanduser().resolve()

    @property
    def root(self) -> Path:
        return self._root

    def describe(self) -> str:
        return f"{self._root}/ (local folder)"

    def locate(self, *, cluster: str, run_id: str, name: str, secret: bool = False) -> str:
        return str(self._root / backup_path(cluster=cluster, run_id=run_id, name=name, secret=secret))

    def put(
        self, source: Path, *, cluster: str, run_id: str, name: str, sha256: str, secret: bool = False
    ) -> StoredFile:
        expected = checked_sha256(sha256)
        target = self._root / backup_path(cluster=cluster, run_id=run_id, name=name, secret=secret)
        doing = f"copying {source} into the backup folder {self._root}"
        if not source.is_file():
            raise StoreError(f"{doing}: {source} does not exist (or is not a file)")
        try:
            self._make_folders(target.parent, secret=secret)
            digest = write_file(read_chunks(source), target, expected_sha256=expected)
        except OSError as exc:
            raise StoreError(f"{doing}: {_explain(exc)}") from exc
        return StoredFile(str(target), digest.size, digest.hexdigest())

    def stat(self, location: str) -> StoredFile | None:
        path = self._inside(location)
        try:
            return StoredFile(str(path), path.stat().st_size, sha256_file(path))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"reading {path}: {_explain(exc)}") from exc

    def fetch(self, location: str, destination: Path) -> StoredFile:
        path = self._inside(location)
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            digest = write_file(read_chunks(path), destination)
        except FileNotFoundError as exc:
            if exc.filename == str(path):
                raise StoreError(f"{location} is not in the backup folder: it was deleted or moved") from exc
            raise StoreError(f"copying {location} to {destination}: {_explain(exc)}") from exc
        except OSError as exc:
            raise StoreError(f"copying {location} to {destination}: {_explain(exc)}") from exc
        return StoredFile(str(path), digest.size, digest.hexdigest())

    def delete(self, location: str) -> None:
        path = self._inside(location)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"deleting {path}: {_explain(exc)}") from exc
        # Tidy the run's (and then the cluster's) folder once it is empty; never the root.
        folder = path.parent
        while folder != self._root and folder != self._root / STATIC_RESOURCES_FOLDER:
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent

    def _inside(self, location: str) -> Path:
        """The path a location names, refused unless it is a file under this store's root."""
        path = Path(location)
        if not path.is_absolute():
            raise StoreError(f"{location!r} is not a path in the backup folder {self._root}")
        resolved = path.resolve()
        if resolved == self._root or not resolved.is_relative_to(self._root):
            raise StoreError(f"{location} is outside the backup folder {self._root}; refusing to touch it")
        return resolved

    def _make_folders(self, folder: Path, *, secret: bool) -> None:
        if not secret:
            folder.mkdir(parents=True, exist_ok=True)
            return
        # The secret tree is the bot's alone, whatever the umask or the root's own mode.
        folders = [self._root / STATIC_RESOURCES_FOLDER]
        for part in folder.relative_to(folders[0]).parts:
            folders.append(folders[-1] / part)
        self._root.mkdir(parents=True, exist_ok=True)
        for path in folders:
            path.mkdir(mode=0o700, exist_ok=True)
            path.chmod(0o700)


def _explain(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the backup folder's disk: free space or prune old backups"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied on {exc.filename}: the bot's user must own the backup folder"
    if exc.errno == errno.EROFS:
        return "the backup folder is on a read-only filesystem"
    return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
