"""The local-folder backup store: the same promises as the S3 store, on a temporary folder."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from runner.adapters.local_store import LocalFolderStore
from runner.stores import StoreError


def _file(folder: Path, name: str, size: int) -> tuple[Path, str]:
    path = folder / name
    path.write_bytes(os.urandom(size))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> LocalFolderStore:
    return LocalFolderStore(tmp_path / "backups")


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    folder = tmp_path / "staging"
    folder.mkdir()
    return folder


def test_put_stat_fetch_round_trip(store: LocalFolderStore, staging: Path, tmp_path: Path) -> None:
    source, sha = _file(staging, "snapshot_2024-05-01_120000.db", 3 * 1024 * 1024 + 5)

    stored = store.put(source, cluster="prod", run_id="run-1", name=source.name, sha256=sha.upper())

    assert stored.location == str(store.root / "prod" / "run-1" / source.name)
    assert (stored.size, stored.sha256) == (source.stat().st_size, sha)
    assert stat.S_IMODE(Path(stored.location).stat().st_mode) == 0o600
    found = store.stat(stored.location)
    assert found is not None and found.matches(size=stored.size, sha256=sha)
    fetched = store.fetch(stored.location, tmp_path / "restore" / "snapshot.db")
    assert (fetched.size, fetched.sha256) == (stored.size, sha)
    assert (tmp_path / "restore" / "snapshot.db").read_bytes() == source.read_bytes()
    assert store.describe() == f"{store.root}/ (local folder)"


def test_the_secret_tarball_goes_to_a_private_sibling_folder(store: LocalFolderStore, staging: Path) -> None:
    source, sha = _file(staging, "static_kuberesources.tar.gz", 2048)
    stored = store.put(source, cluster="prod", run_id="run-1", name=source.name, sha256=sha, secret=True)

    assert stored.location == str(store.root / "static-resources" / "prod" / "run-1" / source.name)
    for folder in ("static-resources", "static-resources/prod", "static-resources/prod/run-1"):
        assert stat.S_IMODE((store.root / folder).stat().st_mode) == 0o700
    assert not (store.root / "prod").exists()


def test_a_copy_that_does_not_match_is_not_kept(store: LocalFolderStore, staging: Path) -> None:
    source, sha = _file(staging, "snapshot.db", 4096)
    good = store.put(source, cluster="prod", run_id="run-1", name="snapshot.db", sha256=sha)
    source.write_bytes(b"damaged since the catalog recorded it")

    with pytest.raises(StoreError, match="nothing was kept") as failure:
        store.put(source, cluster="prod", run_id="run-1", name="snapshot.db", sha256=sha)

    assert failure.value.retryable
    found = store.stat(good.location)  # the good copy is still there, alone
    assert found is not None and found.matches(size=4096, sha256=sha)
    assert os.listdir(Path(good.location).parent) == ["snapshot.db"]


def test_putting_again_is_harmless(store: LocalFolderStore, staging: Path) -> None:
    source, sha = _file(staging, "snapshot.db", 4096)
    first = store.put(source, cluster="prod", run_id="run-1", name="snapshot.db", sha256=sha)
    assert store.put(source, cluster="prod", run_id="run-1", name="snapshot.db", sha256=sha) == first
    # Even from the stored file itself (the copy step may have written straight into the store).
    assert (
        store.put(Path(first.location), cluster="prod", run_id="run-1", name="snapshot.db", sha256=sha)
        == first
    )


def test_damage_done_after_the_backup_is_detected(
    store: LocalFolderStore, staging: Path, tmp_path: Path
) -> None:
    source, sha = _file(staging, "snapshot.db", 8192)
    stored = store.put(source, cluster="prod", run_id="run-1", name="snapshot.db", sha256=sha)
    with open(stored.location, "r+b") as f:  # same size, one bit flipped, in place
        f.seek(4000)
        byte = f.read(1)
        f.seek(4000)
        f.write(bytes([byte[0] ^ 1]))

    found = store.stat(stored.location)
    assert found is not None and found.size == 8192 and not found.matches(size=8192, sha256=sha)
    assert store.fetch(stored.location, tmp_path / "back.db").sha256 != sha


def test_delete_is_idempotent_and_tidies_empty_folders(store: LocalFolderStore, staging: Path) -> None:
    snapshot, snapshot_sha = _file(staging, "snapshot.db", 1024)
    resources, resources_sha = _file(staging, "static_kuberesources.tar.gz", 1024)
    kept = store.put(snapshot, cluster="prod", run_id="run-1", name="snapshot.db", sha256=snapshot_sha)
    gone = store.put(snapshot, cluster="prod", run_id="run-2", name="snapshot.db", sha256=snapshot_sha)
    secret = store.put(
        resources, cluster="prod", run_id="run-2", name=resources.name, sha256=resources_sha, secret=True
    )

    for location in (gone.location, gone.location, secret.location, secret.location):
        store.delete(location)

    assert store.stat(gone.location) is None and store.stat(secret.location) is None
    assert not (store.root / "prod" / "run-2").exists()
    assert (store.root / "static-resources").is_dir() and not (
        store.root / "static-resources" / "prod"
    ).exists()
    assert store.stat(kept.location) is not None


def test_fetching_a_missing_file_says_so(store: LocalFolderStore, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="deleted or moved"):
        store.fetch(str(store.root / "prod" / "run-1" / "snapshot.db"), tmp_path / "back.db")
    assert not (tmp_path / "back.db").exists()


def test_locations_outside_the_folder_are_refused(store: LocalFolderStore, tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.write_text("not a backup")
    for location in (str(outside), str(store.root / ".." / "precious"), "precious", str(store.root)):
        with pytest.raises(StoreError, match="backup folder"):
            store.delete(location)
    assert outside.exists()


def test_names_that_would_escape_the_layout_are_refused(store: LocalFolderStore, staging: Path) -> None:
    source, sha = _file(staging, "snapshot.db", 16)
    for cluster, run_id, name in (("..", "run-1", "x"), ("prod", "a/b", "x"), ("prod", "run-1", ".hidden")):
        with pytest.raises(StoreError, match="cannot be used"):
            store.put(source, cluster=cluster, run_id=run_id, name=name, sha256=sha)
    with pytest.raises(StoreError, match="encryption keys apart"):
        store.put(source, cluster="static-resources", run_id="run-1", name="x", sha256=sha)
    with pytest.raises(StoreError, match="not a SHA-256"):
        store.put(source, cluster="prod", run_id="run-1", name="x", sha256="abc")


def test_a_missing_source_is_named(store: LocalFolderStore, staging: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        store.put(staging / "nope.db", cluster="prod", run_id="run-1", name="nope.db", sha256="0" * 64)
    assert not (store.root / "prod").exists()
