"""Lab options and API faithfulness: preloaded weight, the etcd 3.4 flavour, an API that is really down."""

from __future__ import annotations

import json
import re
import subprocess

from tests.lab.conftest import _lab_root
from tests.lab.helpers import Lab, etcdops, lab_leftovers, wait_for

MASTERS = ("127.0.0.11", "127.0.0.12", "127.0.0.13")


def _started(name: str, *args: str) -> Lab:
    root = _lab_root(name)
    up = etcdops("lab", "up", "--dir", str(root), *args, check=False)
    assert up.returncode == 0, up.stdout + up.stderr
    return Lab(root)


def _stopped(lab: Lab) -> None:
    etcdops("lab", "down", "--dir", str(lab.root))
    assert not any(lab_leftovers(lab.root).values())


def test_db_mb_preloads_kubernetes_shaped_keys_that_backups_carry() -> None:
    lab = _started("preload", "--db-mb", "64")
    try:
        pod = lab.healthy_pod()
        status = json.loads(lab.etcdctl(pod, "endpoint", "status", "-w", "json"))
        assert status[0]["Status"]["dbSize"] >= 60 * 1024 * 1024
        fields = lab.etcdctl(
            pod, "get", "/kubernetes.io/configmaps/lab-load/", "--prefix", "--count-only", "-w", "fields"
        )
        match = re.search(r'"Count" : (\d+)', fields)
        assert match and int(match.group(1)) >= 2500, fields
        one = json.loads(lab.kubectl("get", "configmap", "load-0000042", "-n", "lab-load", "-o", "json"))
        assert one["kind"] == "ConfigMap" and len(one["data"]["payload"]) > 20000
        listed = lab.kubectl("get", "configmaps", "-n", "lab-load", "-o", "name", timeout=120)
        assert listed.count("configmap/load-") == int(match.group(1))
        assert "successfully saved" in lab.ssh(
            MASTERS[0], "sudo /usr/local/bin/cluster-backup.sh /home/core/backup"
        )
        size = lab.ssh(MASTERS[0], "stat -c %s /home/core/backup/snapshot_*.db")
        assert int(size) >= 60 * 1024 * 1024
    finally:
        _stopped(lab)


def test_debian_etcd_34_flavour_runs_the_same_procedures() -> None:
    lab = _started("etcd34", "--etcd", "3.4")
    try:
        assert "etcdctl version: 3.4" in lab.etcdctl(lab.healthy_pod(), "version")
        out = lab.ssh(MASTERS[1], "sudo /usr/local/bin/cluster-backup.sh /home/core/backup")
        assert "snapshot db and kube resources are successfully saved" in out
        assert "unrecognized environment variable" not in out
        lab.wait_three_healthy()
    finally:
        _stopped(lab)


def test_api_is_refused_while_no_kube_apiserver_pod_runs(lab: Lab) -> None:
    for ip in MASTERS:
        lab.ssh(ip, "sudo mv /etc/kubernetes/manifests/kube-apiserver-pod.yaml /home/core/")

    def refused() -> bool:
        done = subprocess.run(
            ["kubectl", "--kubeconfig", str(lab.kubeconfig), "--request-timeout=5s", "get", "nodes"],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.returncode != 0 and "refused" in done.stderr

    wait_for("the API to refuse connections", refused, 30, 0.5)
    lab.ssh(MASTERS[2], "sudo mv /home/core/kube-apiserver-pod.yaml /etc/kubernetes/manifests/")
    nodes = wait_for("the API to answer again", lambda: lab.kubectl("get", "nodes", check=False), 30)
    assert nodes.count("Ready") == 3
