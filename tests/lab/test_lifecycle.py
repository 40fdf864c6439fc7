"""The lab itself: up/down leave nothing behind, crashes are cleaned up, hosts are isolated, SSH is safe."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.lab.conftest import _lab_root
from tests.lab.helpers import Lab, etcdops, lab_leftovers, wait_for

HOSTS = ("127.0.0.11", "127.0.0.12", "127.0.0.13")


def test_up_down_ten_times_leaves_no_process_mount_or_socket() -> None:
    root = _lab_root("cycles")
    for cycle in range(10):
        started = time.monotonic()
        up = etcdops("lab", "up", "--dir", str(root), check=False)
        assert up.returncode == 0, f"cycle {cycle}: {up.stdout}{up.stderr}"
        assert time.monotonic() - started < 30, "lab up must be ready in under 30 s"
        assert "3 kube-apiserver ready" in up.stdout
        etcdops("lab", "down", "--dir", str(root))
        left = lab_leftovers(root)
        assert not any(left.values()), f"cycle {cycle}: {left}"


def test_up_after_a_crash_cleans_up_the_leftovers() -> None:
    root = _lab_root("crash")
    etcdops("lab", "up", "--dir", str(root))
    pid = int((root / "supervisor.pid").read_text())
    os.kill(pid, signal.SIGKILL)  # the supervisor dies; its hosts keep running
    assert lab_leftovers(root)["processes"], "the hosts should outlive a killed supervisor"
    try:
        again = etcdops("lab", "up", "--dir", str(root), check=False)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "3 kube-apiserver ready" in again.stdout
    finally:
        etcdops("lab", "down", "--dir", str(root))
    assert not any(lab_leftovers(root).values())


def test_status_env_and_cluster_profile(lab: Lab) -> None:
    status = etcdops("lab", "status", "--dir", str(lab.root)).stdout
    for ip in HOSTS:
        assert ip in status
    assert status.count("healthy") == 3
    env = etcdops("lab", "env", "--dir", str(lab.root)).stdout
    assert f"export KUBECONFIG={lab.kubeconfig}" in env
    assert f"{lab.root}/ssh/id_ed25519" in env and f"{lab.root}/ssh/known_hosts" in env
    profile = (lab.root / "cluster.yaml").read_text()
    assert str(lab.kubeconfig) in profile and "known_hosts" in profile and "approvals" in profile


def test_each_host_has_its_own_paths_and_name(lab: Lab) -> None:
    lab.ssh(HOSTS[0], "echo only-on-master-0 > /tmp/marker && sudo mkdir -p /var/lib/etcd-backup")
    assert "only-on-master-0" in lab.ssh(HOSTS[0], "cat /tmp/marker")
    assert "No such file" in lab.ssh(HOSTS[1], "cat /tmp/marker", check=False)
    assert not Path("/tmp/marker").exists()
    assert "ip-127-0-0-12.ec2.internal" in lab.ssh(HOSTS[1], "hostname")
    members = lab.ssh(HOSTS[2], "ls /var/lib/etcd /etc/kubernetes/manifests /usr/local/bin")
    for expected in ("member", "etcd-pod.yaml", "kube-apiserver-pod.yaml", "cluster-backup.sh", "crictl"):
        assert expected in members
    assert "No such file" in lab.ssh(HOSTS[1], "ls /var/lib/etcd-backup", check=False)


def test_ssh_is_key_only_and_host_keys_are_verified(lab: Lab, tmp_path: Path) -> None:
    def attempt(
        known_hosts: Path, *, key: bool = True, options: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        argv = lab.ssh_argv(HOSTS[0], "true", known_hosts=known_hosts, key=key, options=options)
        return subprocess.run(argv, capture_output=True, text=True, check=False)

    strangers = tmp_path / "known_hosts"
    strangers.write_text("")
    unknown_host = attempt(strangers)
    assert unknown_host.returncode != 0 and "Host key verification failed" in unknown_host.stderr
    wrong = (lab.root / "ssh/known_hosts").read_text().replace(HOSTS[0], "#").replace(HOSTS[1], HOSTS[0])
    strangers.write_text(wrong)
    changed = attempt(strangers)
    assert changed.returncode != 0 and "HOST IDENTIFICATION HAS CHANGED" in changed.stderr
    no_key = attempt(
        lab.root / "ssh/known_hosts",
        key=False,
        options=(
            "IdentitiesOnly=yes",
            "IdentityFile=/dev/null",
            "PreferredAuthentications=password,keyboard-interactive",
        ),
    )
    assert no_key.returncode != 0 and "Permission denied" in no_key.stderr


def test_crictl_and_kubelet_restart_behave_like_a_node(lab: Lab) -> None:
    ps = lab.ssh(HOSTS[0], "sudo crictl ps | grep etcd | grep -v operator")
    names = {line.split()[-4] for line in ps.splitlines()}
    assert names == {"etcd", "etcdctl", "etcd-metrics"}
    lab.ssh(HOSTS[0], "sudo mv /etc/kubernetes/manifests/etcd-pod.yaml /tmp")
    wait_for(
        "etcd containers to stop",
        lambda: lab.ssh(HOSTS[0], "sudo crictl ps | grep etcd || echo none").strip() == "none",
        30,
    )
    lab.ssh(
        HOSTS[0],
        "sudo mv /tmp/etcd-pod.yaml /etc/kubernetes/manifests/ && sudo systemctl restart kubelet.service",
    )
    wait_for(
        "etcd to run again", lambda: "Running" in lab.ssh(HOSTS[0], "sudo crictl ps --name '^etcd$'"), 30
    )
    lab.wait_three_healthy()
