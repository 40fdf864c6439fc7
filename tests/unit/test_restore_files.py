"""Where a restore finds a backup's two files: in place when both are in one local folder, otherwise
fetched into a staging folder (the tarball kept apart because etcd encryption is on; an S3 store is the
same path through the S3 adapter, covered by the lab test)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from runner.adapters.local_store import LocalFolderStore
from runner.procedures.restore import check_backup_files, gather_backup_files
from runner.stores import StoreError
from storage.models import Backup

SNAPSHOT = "snapshot_2026-12-01_101500.db"
RESOURCES = "static_kuberesources_2026-12-01_101500.tar.gz"


def _snapshot_bytes() -> bytes:
    body = b"\0" * 4096  # a bolt file is a multiple of 512 bytes; etcdctl appends its SHA-256
    return body + hashlib.sha256(body).digest()


def _backup(store: LocalFolderStore, source: Path, *, apart: bool) -> Backup:
    (source / SNAPSHOT).write_bytes(_snapshot_bytes())
    (source / RESOURCES).write_bytes(b"tarball")
    snap = store.put(
        source / SNAPSHOT, cluster="lab", run_id="r-abcde", name=SNAPSHOT, sha256=_sha(source / SNAPSHOT)
    )
    res = store.put(
        source / RESOURCES,
        cluster="lab",
        run_id="r-abcde",
        name=RESOURCES,
        sha256=_sha(source / RESOURCES),
        secret=apart,
    )
    folder, resources_folder = snap.location.rsplit("/", 1)[0], res.location.rsplit("/", 1)[0]
    return Backup(
        id=1,
        cluster="lab",
        host="127.0.0.11",
        openshift_version="4.14.12",
        snapshot_size=snap.size,
        snapshot_sha256=snap.sha256,
        location=folder,
        resources_location=resources_folder if resources_folder != folder else None,
        snapshot_name=SNAPSHOT,
        resources_name=RESOURCES,
        taken_at=dt.datetime.now(dt.UTC),
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_both_files_in_one_local_folder_are_used_in_place(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "store")
    source = tmp_path / "source"
    source.mkdir()
    backup = _backup(store, source, apart=False)
    staging = tmp_path / "staging"
    folder = gather_backup_files(backup, lambda location: store, staging)
    assert folder == Path(backup.location)
    assert not staging.exists()
    assert check_backup_files(backup, folder) is None


def test_a_tarball_kept_apart_is_fetched_with_the_snapshot_into_staging(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "store")
    source = tmp_path / "source"
    source.mkdir()
    backup = _backup(store, source, apart=True)
    assert backup.resources_location and "static-resources" in backup.resources_location
    folder = gather_backup_files(backup, lambda location: store, tmp_path / "staging")
    assert folder == tmp_path / "staging"
    assert sorted(p.name for p in folder.iterdir()) == sorted([SNAPSHOT, RESOURCES])
    assert check_backup_files(backup, folder) is None


def test_a_file_gone_from_the_store_is_a_store_error(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "store")
    source = tmp_path / "source"
    source.mkdir()
    backup = _backup(store, source, apart=True)
    assert backup.resources_location is not None
    Path(backup.resources_location, RESOURCES).unlink()
    with pytest.raises(StoreError):
        gather_backup_files(backup, lambda location: store, tmp_path / "staging")
