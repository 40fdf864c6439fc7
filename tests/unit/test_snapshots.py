"""The snapshot integrity check on files made like etcd makes them, and on damaged ones."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from runner.snapshots import SnapshotDigest, check_snapshot


def _snapshot(path: Path, pages: int = 3) -> Path:
    body = bytes(range(256)) * 2 * pages  # 512·pages bytes, like a bolt file
    path.write_bytes(body + hashlib.sha256(body).digest())
    return path


def test_a_good_snapshot_passes_and_reports_its_checksum(tmp_path: Path) -> None:
    path = _snapshot(tmp_path / "snapshot.db")
    check = check_snapshot(path)
    assert check.ok and check.size == 3 * 512 + 32
    assert check.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_damage_and_missing_hashes_are_caught(tmp_path: Path) -> None:
    path = _snapshot(tmp_path / "snapshot.db")
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    assert "does not match" in check_snapshot(path).reason
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(bytes(data[:-10]))
    assert "no integrity hash" in check_snapshot(truncated).reason


@pytest.mark.parametrize("chunk", [1, 7, 31, 32, 33, 512, 1000, 10_000])
def test_the_streaming_check_agrees_with_the_file_whatever_the_chunks(tmp_path: Path, chunk: int) -> None:
    for damaged in (False, True):
        path = _snapshot(tmp_path / "snapshot.db", pages=5)
        if damaged:
            data = bytearray(path.read_bytes())
            data[-1] ^= 0x01
            path.write_bytes(bytes(data))
        digest = SnapshotDigest()
        data = path.read_bytes()
        for start in range(0, len(data), chunk):
            digest.update(data[start : start + chunk])
        streamed, whole = digest.check(), check_snapshot(path)
        assert streamed == whole and streamed.ok is not damaged
        assert streamed.file_sha256 == hashlib.sha256(data).hexdigest()
