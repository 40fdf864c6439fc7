"""The backup procedure's steps and probes on the lab, through the real SSH and Kubernetes adapters."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from runner.adapters.kube import KubeApi
from runner.adapters.ssh import SshHosts
from runner.procedures.backup import (
    REMOTE_ROOT,
    choose_hosts,
    copy_off,
    gather_backup_facts,
    locate_snapshot,
    preflight,
    probe_copy,
    probe_snapshot,
    remote_dir,
    snapshot_status,
    take_snapshot,
)
from runner.steps import Probe, StepFailed
from tests.lab.helpers import Lab


def test_backup_steps_and_their_probes(lab: Lab, tmp_path: Path) -> None:
    kube = KubeApi(kubeconfig=lab.kubeconfig)
    hosts = SshHosts(
        user="core", key_path=lab.root / "ssh/id_ed25519", known_hosts=lab.root / "ssh/known_hosts"
    )
    try:
        facts = gather_backup_facts(kube, "lab")
        assert facts.openshift_version == "4.14.12" and facts.proxy == {}
        assert preflight(facts, dt.datetime.now(dt.UTC)) == []
        assert facts.installed_at is not None
        too_young = preflight(facts, facts.installed_at + dt.timedelta(hours=2))
        assert len(too_young) == 1 and "first certificate rotation" in too_young[0]
        with pytest.raises(StepFailed, match="no master has that name"):
            choose_hosts(facts, "master-9")
        host = choose_hosts(facts, "ip-127-0-0-12.ec2.internal")[0].ip
        folder = remote_dir("r-test1")

        assert probe_snapshot(hosts, host, folder).verdict is Probe.REDO
        taken = take_snapshot(hosts, host, folder, proxy={})
        assert "snapshot db and kube resources are successfully saved" in taken.output
        # the process dies here; on restart the probe sees the finished snapshot: no second one is taken
        after_crash = probe_snapshot(hosts, host, folder)
        assert after_crash.verdict is Probe.DONE, after_crash.reason
        again = locate_snapshot(hosts, host, folder)
        assert (again.snapshot, again.resources) == (taken.snapshot, taken.resources)
        assert len(hosts.run(host, ["ls", folder], sudo=True).stdout.split()) == 2

        destination = tmp_path / "store/lab/r-test1"
        assert probe_copy(hosts, taken, destination).verdict is Probe.REDO
        copied = copy_off(hosts, taken, destination)
        assert probe_copy(hosts, taken, destination).verdict is Probe.DONE
        assert copied.snapshot_size > 0 and copied.resources_size > 0
        stats = snapshot_status(hosts, host, f"{folder}/{taken.snapshot}")
        assert stats is not None and stats["revision"] > 0 and stats["totalKey"] > 10

        copied.snapshot.write_bytes(copied.snapshot.read_bytes()[:-1] + b"\0")
        assert probe_copy(hosts, taken, destination).verdict is Probe.REDO

        # a partial attempt (one file, truncated) is redone cleanly
        hosts.run(host, ["truncate", "-s", "100", f"{folder}/{taken.snapshot}"], sudo=True)
        assert probe_snapshot(hosts, host, folder).verdict is Probe.REDO
        redone = take_snapshot(hosts, host, folder, proxy={})
        assert probe_snapshot(hosts, host, folder).verdict is Probe.DONE
        assert len(hosts.run(host, ["ls", folder], sudo=True).stdout.split()) == 2
        assert redone.snapshot.startswith("snapshot_")

        hosts.run(host, ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", REMOTE_ROOT], sudo=True)
        try:
            with pytest.raises(StepFailed, match="twice the etcd database"):
                take_snapshot(hosts, host, remote_dir("r-test2"), proxy={})
            assert hosts.run(host, ["ls", "-A", REMOTE_ROOT], sudo=True).stdout == "", "nothing written"
        finally:
            hosts.run(host, ["umount", REMOTE_ROOT], sudo=True)
        status = json.loads(lab.kubectl("get", "etcd", "cluster", "-o", "json"))
        assert status["kind"] == "Etcd"
    finally:
        hosts.close()
        kube.close()
