"""Seed 3.3, by hand: restore the cluster to a previous state after losing quorum."""

from __future__ import annotations

import subprocess

from tests.lab.helpers import ETCD_NS, Lab, etcdops, wait_for

RECOVERY = "127.0.0.11"
OTHERS = ("127.0.0.12", "127.0.0.13")


def _api_is_down(lab: Lab) -> bool:
    done = subprocess.run(
        ["kubectl", "--kubeconfig", str(lab.kubeconfig), "--request-timeout=5s", "get", "nodes"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode != 0 and (
        "refused" in done.stderr
        or "ServiceUnavailable" in done.stderr
        or "503" in done.stderr
        or "EOF" in done.stderr
    )


def test_restore_to_a_previous_state_after_losing_quorum(lab: Lab) -> None:
    lab.kubectl("create", "configmap", "critical-config", "-n", "default", "--from-literal=keep=me")
    backup = lab.ssh(RECOVERY, "sudo /usr/local/bin/cluster-backup.sh /home/core/backup")
    assert "successfully saved" in backup
    lab.kubectl("create", "configmap", "made-after-backup", "-n", "default", "--from-literal=lost=yes")
    etcdops("lab", "fault", "delete-object", "configmap/critical-config", "-n", "default")
    assert "critical-config" not in lab.kubectl("get", "configmaps", "-n", "default")
    etcdops("lab", "fault", "lose-quorum")
    wait_for("the API to go down", lambda: _api_is_down(lab), 60)

    # Stop the static pods on every other master, by hand over SSH.
    for ip in OTHERS:
        lab.ssh(ip, "sudo mv /etc/kubernetes/manifests/etcd-pod.yaml /tmp")
        wait_for(
            f"etcd to stop on {ip}",
            lambda ip=ip: lab.ssh(ip, "sudo crictl ps | grep etcd | grep -v operator || true").strip() == "",
            60,
        )
        lab.ssh(ip, "sudo mv /etc/kubernetes/manifests/kube-apiserver-pod.yaml /tmp")
        wait_for(
            f"kube-apiserver to stop on {ip}",
            lambda ip=ip: (
                lab.ssh(ip, "sudo crictl ps | grep kube-apiserver | grep -v operator || true").strip() == ""
            ),
            60,
        )
        lab.ssh(ip, "sudo mv /var/lib/etcd/ /tmp")

    restored = lab.ssh(RECOVERY, "sudo -E /usr/local/bin/cluster-restore.sh /home/core/backup")
    for line in (
        "...stopping etcd-pod.yaml",
        "...stopping kube-apiserver-pod.yaml",
        "Waiting for container etcd to stop",
        "Moving etcd data-dir /var/lib/etcd/member to /var/lib/etcd-backup",
        "starting restore-etcd static pod",
        "starting kube-apiserver-pod.yaml",
        "static-pod-resources/kube-apiserver-pod-1/kube-apiserver-pod.yaml",
    ):
        assert line in restored, restored
    for ip in (RECOVERY, *OTHERS):
        lab.ssh(ip, "sudo systemctl restart kubelet.service")

    wait_for(
        "the single etcd container on the recovery host",
        lambda: "Running" in lab.ssh(RECOVERY, "sudo crictl ps | grep etcd | grep -v operator || true"),
        90,
    )

    def single_pod() -> list[list[str]] | None:
        rows = [r for r in lab.etcd_pods() if r[2] == "Running"]
        return rows if len(rows) == 1 and rows[0][1] == "1/1" else None

    rows = wait_for("one running etcd pod (1/1) in the API", single_pod, 120, 2)
    assert "ip-127-0-0-11" in rows[0][0]

    before = lab.force_redeployment("etcd")
    lab.wait_latest_revision("etcd", above=before, timeout=240)
    for resource in ("kubeapiserver", "kubecontrollermanager", "kubescheduler"):
        before = lab.force_redeployment(resource)
        lab.wait_latest_revision(resource, above=before, timeout=150)
    lab.wait_three_healthy(timeout=180)

    configmaps = lab.kubectl("get", "configmaps", "-n", "default")
    assert "critical-config" in configmaps, "the object deleted after the backup is back"
    assert "made-after-backup" not in configmaps, "the object created after the backup is gone"
    assert (
        lab.kubectl("get", "configmap", "critical-config", "-n", "default", "-o", "jsonpath={.data.keep}")
        == "me"
    )
    lab.wait_members_available()
    for ip in OTHERS:
        assert "member" in lab.ssh(ip, "ls /tmp/etcd"), "the old data was moved aside, not deleted"
    pods = lab.kubectl("get", "pods", "-n", ETCD_NS)
    assert pods.count("3/3     Running") == 3
