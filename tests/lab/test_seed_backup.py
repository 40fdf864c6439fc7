"""Seed 1.1, by hand: cluster-backup.sh on one master writes the snapshot and the static resources."""

from __future__ import annotations

import json
import re

from tests.lab.helpers import Lab

MASTER = "127.0.0.12"


def test_backup_writes_both_files_with_the_seeds_output(lab: Lab) -> None:
    proxy = lab.kubectl("get", "proxy", "cluster", "-o", "yaml")
    assert "httpProxy" not in proxy and "httpsProxy" not in proxy  # the proxy is not enabled
    out = lab.ssh(MASTER, "sudo /usr/local/bin/cluster-backup.sh /home/core/assets/backup")
    assert re.search(r"^[0-9a-f]{64}$", out, re.M), out
    assert "etcdctl version: 3.5" in out
    for resource in ("kube-apiserver-pod", "kube-controller-manager-pod", "kube-scheduler-pod", "etcd-pod"):
        assert re.search(
            rf"found latest {resource}: /etc/kubernetes/static-pod-resources/{resource}-\d+", out
        )
    saved = re.search(r"Snapshot saved at (/home/core/assets/backup/snapshot_(\S+)\.db)", out)
    assert saved, out
    assert "snapshot db and kube resources are successfully saved to /home/core/assets/backup" in out
    stamp = saved.group(2)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d{6}", stamp)
    listing = lab.ssh(MASTER, "ls /home/core/assets/backup")
    assert set(listing.split()) == {f"snapshot_{stamp}.db", f"static_kuberesources_{stamp}.tar.gz"}
    tar = lab.ssh(MASTER, f"tar -tzf /home/core/assets/backup/static_kuberesources_{stamp}.tar.gz")
    assert "static-pod-resources/etcd-pod-1/etcd-pod.yaml" in tar
    assert "static-pod-resources/kube-apiserver-pod-1/kube-apiserver-pod.yaml" in tar
    status = lab.ssh(
        MASTER,
        f"source /etc/kubernetes/static-pod-resources/etcd-certs/configmaps/etcd-scripts/etcd.env"
        f" && $ETCD_ETCDUTL_BIN snapshot status /home/core/assets/backup/snapshot_{stamp}.db -w json",
    )
    assert '"totalKey"' in status
    # one backup, on one master only
    assert "No such file" in lab.ssh("127.0.0.11", "ls /home/core/assets/backup", check=False)


def test_a_failed_backup_leaves_no_partial_files(lab: Lab) -> None:
    lab.ssh(MASTER, "sudo mv /etc/kubernetes/manifests/etcd-pod.yaml /tmp")
    lab.ssh(MASTER, "while sudo crictl ps --name '^etcd$' | grep -q Running; do sleep 0.5; done")
    failed = lab.ssh(
        MASTER, "sudo /usr/local/bin/cluster-backup.sh /home/core/assets/backup; echo exit=$?", check=False
    )
    assert "exit=0" not in failed
    assert lab.ssh(MASTER, "ls -A /home/core/assets/backup").strip() == ""
    lab.ssh(MASTER, "sudo mv /tmp/etcd-pod.yaml /etc/kubernetes/manifests/")
    lab.wait_three_healthy()


def test_backup_refuses_while_an_operator_is_progressing_unless_forced(lab: Lab) -> None:
    conditions = [
        {"type": "Available", "status": "True"},
        {"type": "Progressing", "status": "True", "reason": "NodeInstaller"},
        {"type": "Degraded", "status": "False"},
    ]
    patch = json.dumps({"status": {"conditions": conditions}})
    lab.kubectl("patch", "co", "kube-scheduler", "--subresource=status", "--type=merge", f"-p={patch}")
    out = lab.ssh(MASTER, "sudo /usr/local/bin/cluster-backup.sh /home/core/assets/backup; echo exit=$?")
    assert "kube-scheduler operator is progressing" in out and "exit=1" in out
    assert lab.ssh(MASTER, "ls -A /home/core/assets/backup 2>/dev/null || true").strip() == ""
    forced = lab.ssh(MASTER, "sudo /usr/local/bin/cluster-backup.sh --force /home/core/assets/backup")
    assert "successfully saved" in forced
    names = lab.ssh(MASTER, "ls /home/core/assets/backup").split()
    assert len(names) == 2 and all("__POSSIBLY_DIRTY__" in n for n in names), names
