"""The S3 backup store against moto's standalone server over HTTP: uploads checked after the fact
(single PUT and multipart), encryption, the secret prefix, damage found later, and failures that say
what to check."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.clusters import S3Store
from runner.adapters.s3_store import S3BackupStore, S3Tuning, part_digests
from runner.stores import UNKNOWN_SHA256, StoreError
from tests.ports import free_port
from tests.s3kit import HOST, MotoS3, moto_server

MiB = 1024 * 1024
# Small parts so a 12 MiB file is a three-part upload; few, quick attempts so failures come fast.
TUNING = S3Tuning(
    part_size=5 * MiB, multipart_threshold=5 * MiB, attempts=2, connect_timeout=2, read_timeout=10
)


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    with moto_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture
def bucket(moto: MotoS3, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name, value in moto.environment().items():
        monkeypatch.setenv(name, value)
    return moto.new_bucket()


def _store(moto: MotoS3, bucket: str, tuning: S3Tuning = TUNING, **settings: Any) -> S3BackupStore:
    config = {"type": "s3", "bucket": bucket, "prefix": "backups", "endpoint_url": moto.url} | settings
    return S3BackupStore(S3Store.model_validate({"region": moto.region, **config}), tuning)


def _file(folder: Path, name: str, size: int) -> tuple[Path, str]:
    path = folder / name
    path.write_bytes(os.urandom(size))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def _key(location: str, bucket: str) -> str:
    return location.removeprefix(f"s3://{bucket}/")


def test_put_stat_fetch_round_trip(moto: MotoS3, bucket: str, tmp_path: Path) -> None:
    source, sha = _file(tmp_path, "snapshot_2024-05-01_120000.db", 300 * 1024)
    store = _store(moto, bucket)

    stored = store.put(source, cluster="prod", run_id="run-1", name=source.name, sha256=sha)

    assert stored.location == f"s3://{bucket}/backups/prod/run-1/{source.name}"
    assert (stored.size, stored.sha256) == (source.stat().st_size, sha)
    found = store.stat(stored.location)
    assert found is not None and found.matches(size=stored.size, sha256=sha)
    fetched = store.fetch(stored.location, tmp_path / "restore" / "snapshot.db")
    assert (fetched.size, fetched.sha256) == (stored.size, sha)
    assert (tmp_path / "restore" / "snapshot.db").read_bytes() == source.read_bytes()
    assert store.describe() == f"s3://{bucket}/backups/ (endpoint {moto.url})"


def test_the_object_carries_s3s_own_sha256(moto: MotoS3, bucket: str, tmp_path: Path) -> None:
    source, sha = _file(tmp_path, "snapshot.db", 64 * 1024)
    stored = _store(moto, bucket).put(source, cluster="prod", run_id="run-1", name="snapshot.db", sha256=sha)
    head = moto.client().head_object(Bucket=bucket, Key=_key(stored.location, bucket), ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(sha)).decode()


@pytest.mark.parametrize("encryption", ["AES256", "aws:kms"])
@pytest.mark.parametrize("size", [64 * 1024, 11 * MiB], ids=["single", "multipart"])
def test_server_side_encryption_is_applied(
    moto: MotoS3, bucket: str, tmp_path: Path, encryption: str, size: int
) -> None:
    source, sha = _file(tmp_path, "snapshot.db", size)
    store = _store(moto, bucket, server_side_encryption=encryption)
    stored = store.put(source, cluster="prod", run_id="run-1", name="snapshot.db", sha256=sha)
    head = moto.client().head_object(Bucket=bucket, Key=_key(stored.location, bucket))
    assert head["ServerSideEncryption"] == encryption
    assert store.describe().endswith(f"server-side encryption {encryption})")


def test_the_secret_tarball_has_its_own_prefix(moto: MotoS3, bucket: str, tmp_path: Path) -> None:
    store = _store(moto, bucket)
    snapshot, snapshot_sha = _file(tmp_path, "snapshot.db", 4096)
    resources, resources_sha = _file(tmp_path, "static_kuberesources.tar.gz", 2048)
    store.put(snapshot, cluster="prod", run_id="run-1", name=snapshot.name, sha256=snapshot_sha)
    secret = store.put(
        resources, cluster="prod", run_id="run-1", name=resources.name, sha256=resources_sha, secret=True
    )

    assert secret.location == f"s3://{bucket}/backups/static-resources/prod/run-1/{resources.name}"
    listed = moto.client().list_objects_v2(Bucket=bucket, Prefix="backups/prod/")
    assert [o["Key"] for o in listed["Contents"]] == ["backups/prod/run-1/snapshot.db"]
    assert store.stat(secret.location) is not None


def test_a_multipart_upload_is_verified_against_the_files_sha256(
    moto: MotoS3, bucket: str, tmp_path: Path
) -> None:
    source, sha = _file(tmp_path, "snapshot.db", 12 * MiB + 7)
    store = _store(moto, bucket)
    stored = store.put(source, cluster="prod", run_id="run-1", name="snapshot.db", sha256=sha)

    head = moto.client().head_object(Bucket=bucket, Key=_key(stored.location, bucket), ChecksumMode="ENABLED")
    assert head["ETag"].endswith('-3"')  # three parts: 5 + 5 + 2 MiB
    assert head["ChecksumSHA256"].partition("-")[0] == part_digests(source, 5 * MiB).composite
    found = store.stat(stored.location)
    assert found is not None and found.matches(size=12 * MiB + 7, sha256=sha)
    assert store.fetch(stored.location, tmp_path / "back.db").sha256 == sha


def test_a_file_that_is_not_the_catalogs_is_refused(moto: MotoS3, bucket: str, tmp_path: Path) -> None:
    store = _store(moto, bucket)
    for size in (4096, 11 * MiB):  # checked after a single PUT, before a multipart upload
        source, _ = _file(tmp_path, f"snapshot-{size}.db", size)
        with pytest.raises(StoreError, match="SHA-256") as failure:
            store.put(source, cluster="prod", run_id="run-1", name=source.name, sha256="0" * 64)
        assert failure.value.retryable
    assert moto.client().list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_a_file_changed_during_a_multipart_upload_is_caught_and_removed(
    moto: MotoS3, bucket: str, tmp_path: Path
) -> None:
    source, sha = _file(tmp_path, "snapshot.db", 11 * MiB)
    store = _store(moto, bucket)

    def damage_the_source(**_: Any) -> None:  # after the local hashing, before any part is read
        with source.open("r+b") as f:
            f.seek(6 * MiB)
            f.write(b"\xff" * 16)

    store._client.meta.events.register("before-call.s3.CreateMultipartUpload", damage_the_source)
    with pytest.raises(StoreError, match="checksum of the object") as failure:
        store.put(source, cluster="prod", run_id="run-1", name="snapshot.db", sha256=sha)
    assert "was removed" in str(failure.value)
    assert store.stat(f"s3://{bucket}/backups/prod/run-1/snapshot.db") is None


def test_putting_again_sends_nothing(moto: MotoS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in moto.environment().items():
        monkeypatch.setenv(name, value)
    bucket = moto.new_bucket(versioned=True)
    store = _store(moto, bucket, server_side_encryption="AES256")
    for size in (4096, 11 * MiB):
        source, sha = _file(tmp_path, f"snapshot-{size}.db", size)
        first = store.put(source, cluster="prod", run_id="run-1", name=source.name, sha256=sha)
        again = store.put(source, cluster="prod", run_id="run-1", name=source.name, sha256=sha)
        assert again == first
    versions = moto.client().list_object_versions(Bucket=bucket)["Versions"]
    assert len(versions) == 2  # one upload of each file


@pytest.mark.parametrize("size", [64 * 1024, 11 * MiB], ids=["single", "multipart"])
@pytest.mark.parametrize("forger", [False, True], ids=["plain-overwrite", "checksum-and-metadata-copied"])
def test_damage_done_after_the_backup_is_detected(
    moto: MotoS3, bucket: str, tmp_path: Path, size: int, forger: bool
) -> None:
    source, sha = _file(tmp_path, "snapshot.db", size)
    store = _store(moto, bucket)
    stored = store.put(source, cluster="prod", run_id="run-1", name="snapshot.db", sha256=sha)
    client = moto.client()
    key = _key(stored.location, bucket)
    damaged = bytearray(source.read_bytes())
    damaged[size // 2] ^= 0x01
    if forger:  # a rewrite that keeps the object's metadata and asks for SHA-256 checksums too
        metadata = client.head_object(Bucket=bucket, Key=key)["Metadata"]
        client.put_object(
            Bucket=bucket, Key=key, Body=bytes(damaged), Metadata=metadata, ChecksumAlgorithm="SHA256"
        )
    else:
        client.put_object(Bucket=bucket, Key=key, Body=bytes(damaged))

    found = store.stat(stored.location)
    assert found is not None and found.size == size
    assert not found.matches(size=size, sha256=sha)
    fetched = store.fetch(stored.location, tmp_path / "back.db")
    assert fetched.sha256 == hashlib.sha256(damaged).hexdigest() != sha


def test_an_object_written_by_someone_else_has_an_unknown_sha256(
    moto: MotoS3, bucket: str, tmp_path: Path
) -> None:
    moto.client().put_object(Bucket=bucket, Key="backups/prod/run-1/snapshot.db", Body=b"not ours")
    found = _store(moto, bucket).stat(f"s3://{bucket}/backups/prod/run-1/snapshot.db")
    assert found is not None and (found.size, found.sha256) == (8, UNKNOWN_SHA256)


def test_an_endpoint_without_checksums_is_verified_by_reading_back(
    moto: MotoS3, bucket: str, tmp_path: Path
) -> None:
    store = _store(moto, bucket)

    def forget_checksums(parsed: dict[str, Any], **_: Any) -> None:  # as an older S3-compatible server
        parsed.pop("ChecksumSHA256", None)

    store._client.meta.events.register("after-call.s3.HeadObject", forget_checksums)
    source, sha = _file(tmp_path, "snapshot.db", 11 * MiB)
    stored = store.put(source, cluster="prod", run_id="run-1", name="snapshot.db", sha256=sha)
    assert stored.sha256 == sha
    small, _ = _file(tmp_path, "small.db", 4096)
    with pytest.raises(StoreError, match="reading the object back"):
        store.put(small, cluster="prod", run_id="run-1", name="small.db", sha256=sha)
    assert store.stat(f"s3://{bucket}/backups/prod/run-1/small.db") is None


def test_delete_is_idempotent(moto: MotoS3, bucket: str, tmp_path: Path) -> None:
    source, sha = _file(tmp_path, "snapshot.db", 4096)
    store = _store(moto, bucket)
    stored = store.put(source, cluster="prod", run_id="run-1", name="snapshot.db", sha256=sha)
    store.delete(stored.location)
    store.delete(stored.location)
    assert store.stat(stored.location) is None
    with pytest.raises(StoreError, match="does not exist"):
        store.fetch(stored.location, tmp_path / "back.db")
    assert not (tmp_path / "back.db").exists()


def test_locations_outside_the_store_are_refused(moto: MotoS3, bucket: str) -> None:
    store = _store(moto, bucket)
    for location in (
        f"s3://other-{bucket}/backups/x",
        f"s3://{bucket}/elsewhere/x",
        f"s3://{bucket}/backups/",
    ):
        with pytest.raises(StoreError, match="not in this backup store"):
            store.delete(location)


def test_a_wrong_bucket_is_named_in_the_error(moto: MotoS3, bucket: str, tmp_path: Path) -> None:
    source, sha = _file(tmp_path, "snapshot.db", 4096)
    store = _store(moto, f"missing-{bucket}")
    calls: list[Callable[[], object]] = [
        lambda: store.put(source, cluster="prod", run_id="run-1", name="snapshot.db", sha256=sha),
        lambda: store.stat(f"s3://missing-{bucket}/backups/prod/run-1/snapshot.db"),
        lambda: store.fetch(f"s3://missing-{bucket}/backups/prod/run-1/snapshot.db", tmp_path / "x"),
        lambda: store.delete(f"s3://missing-{bucket}/backups/prod/run-1/snapshot.db"),
    ]
    for call in calls:
        with pytest.raises(StoreError) as failure:
            call()
        message = str(failure.value)
        assert f"the bucket 'missing-{bucket}' does not exist at {moto.url}" in message
        assert moto.secret_key not in message and not failure.value.retryable


def test_an_unreachable_endpoint_fails_fast(bucket: str, tmp_path: Path) -> None:
    closed = f"http://{HOST}:{free_port()}"
    source, sha = _file(tmp_path, "snapshot.db", 4096)
    store = S3BackupStore(S3Store(type="s3", bucket=bucket, endpoint_url=closed), TUNING)
    started = time.monotonic()
    with pytest.raises(StoreError) as failure:
        store.put(source, cluster="prod", run_id="run-1", name="snapshot.db", sha256=sha)
    assert time.monotonic() - started < 10
    assert f"cannot reach bucket {bucket!r} at {closed}" in str(failure.value)
    assert failure.value.retryable


def test_an_endpoint_that_never_answers_times_out(bucket: str, tmp_path: Path) -> None:
    with socket.socket() as silent:
        silent.bind((HOST, 0))
        silent.listen(8)  # connections are accepted by the kernel, never answered
        endpoint = f"http://{HOST}:{silent.getsockname()[1]}"
        tuning = S3Tuning(attempts=2, connect_timeout=1, read_timeout=0.5)
        store = S3BackupStore(S3Store(type="s3", bucket=bucket, endpoint_url=endpoint), tuning)
        started = time.monotonic()
        with pytest.raises(StoreError, match="cannot reach") as failure:
            store.stat(f"s3://{bucket}/prod/run-1/snapshot.db")
        assert time.monotonic() - started < 10 and failure.value.retryable


def test_missing_credentials_say_where_to_put_them(
    moto: MotoS3, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StoreError, match="AWS_ACCESS_KEY_ID"):
        _store(moto, bucket).stat(f"s3://{bucket}/backups/prod/run-1/snapshot.db")


def test_the_description_never_shows_credentials_in_the_endpoint(moto: MotoS3, bucket: str) -> None:
    store = _store(moto, bucket, endpoint_url=moto.url.replace("//", "//user:hunter2@"), prefix="")
    assert store.describe() == f"s3://{bucket}/ (endpoint {moto.url})"
    with pytest.raises(StoreError, match="not a usable URL") as failure:
        _store(moto, bucket, endpoint_url="http://user:hunter2@bad host")
    assert "hunter2" not in str(failure.value)
