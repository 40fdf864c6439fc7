"""Driving the lab by hand, as an administrator following the seed would: ssh, kubectl, etcdctl.

Nothing here imports the lab's code: the tests prove the lab is faithful from the outside.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
ETCD_NS = "openshift-etcd"
MACHINE_NS = "openshift-machine-api"


def etcdops(*args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """The ``etcdops`` command line, as a user types it."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
        cwd=REPO,
    )


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 90, interval: float = 1.0) -> T:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except subprocess.CalledProcessError as exc:
            value, last = None, exc.stderr or exc.stdout
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last})")


@dataclass
class Lab:
    root: Path

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    def kubectl(self, *args: str, check: bool = True, timeout: float = 30, with_stderr: bool = False) -> str:
        """``kubectl`` with the lab's kubeconfig; ``with_stderr`` returns what a terminal shows."""
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        done = subprocess.run(
            ["kubectl", *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)
        return done.stdout + done.stderr if with_stderr else done.stdout

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json"))

    def ssh_argv(
        self,
        ip: str,
        command: str,
        *,
        known_hosts: Path | None = None,
        key: bool = True,
        options: tuple[str, ...] = (),
    ) -> list[str]:
        """``ssh core@<ip> <command>`` verifying the host key against ``known_hosts`` (the lab's by default),
        never adding one; ``key=False`` offers no key, ``options`` are more ``-o`` settings."""
        argv = ["ssh", *(["-i", str(self.root / "ssh/id_ed25519")] if key else [])]
        settings = (
            f"UserKnownHostsFile={known_hosts or self.root / 'ssh/known_hosts'}",
            "StrictHostKeyChecking=yes",
            "BatchMode=yes",
            "ConnectTimeout=5",
            *options,
        )
        for setting in settings:
            argv += ["-o", setting]
        return [*argv, f"core@{ip}", command]

    def ssh(self, ip: str, command: str, *, check: bool = True, timeout: float = 120) -> str:
        """Run ``command`` on a master as ``core``; returns what the terminal shows."""
        done = subprocess.run(
            self.ssh_argv(ip, command), capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)
        return done.stdout + done.stderr

    def etcdctl(self, pod: str, *args: str, check: bool = True) -> str:
        """``oc rsh -n openshift-etcd <pod>`` then ``etcdctl ...``: what the terminal shows (etcdctl 3.4
        prints ``endpoint health`` on stderr)."""
        return self.kubectl(
            "exec", "-n", ETCD_NS, pod, "--", "etcdctl", *args, check=check, timeout=60, with_stderr=True
        )

    def condition(self, resource: str, kind: str, field: str = "message") -> str:
        path = f'{{range .items[0].status.conditions[?(@.type=="{kind}")]}}{{.{field}}}{{end}}'
        return self.kubectl("get", resource, "-o", f"jsonpath={path}").strip()

    def etcd_pods(self) -> list[list[str]]:
        """``oc get pods -n openshift-etcd | grep etcd``, as rows of columns."""
        out = self.kubectl("get", "pods", "-n", ETCD_NS)
        return [line.split() for line in out.splitlines()[1:] if line.startswith("etcd-")]

    def healthy_pod(self, avoid_node: str = "") -> str:
        for row in self.etcd_pods():
            if row[2] == "Running" and row[1] == "3/3" and (not avoid_node or avoid_node not in row[0]):
                return row[0]
        raise AssertionError(f"no healthy etcd pod: {self.etcd_pods()}")

    def latest_revision(self, resource: str) -> int:
        return int(
            self.kubectl("get", resource, "cluster", "-o", "jsonpath={.status.latestAvailableRevision}")
        )

    def force_redeployment(self, resource: str, prefix: str = "recovery") -> int:
        """Patch a unique ``forceRedeploymentReason``; returns the revision that was latest before."""
        before = self.latest_revision(resource)
        stamp = subprocess.run(
            ["date", "--rfc-3339=ns"], capture_output=True, text=True, check=True
        ).stdout.strip()
        patch = json.dumps({"spec": {"forceRedeploymentReason": f"{prefix}-{stamp}"}})
        self.kubectl("patch", resource, "cluster", f"-p={patch}", "--type=merge")
        return before

    def wait_latest_revision(
        self, resource: str, above: int = 0, nodes: int = 3, timeout: float = 150
    ) -> str:
        """Wait for ``AllNodesAtLatestRevision`` with every node at a revision newer than ``above``."""

        def done() -> str | None:
            reason = self.condition(resource, "NodeInstallerProgressing", "reason")
            message = self.condition(resource, "NodeInstallerProgressing")
            match = re.fullmatch(rf"{nodes} nodes are at revision (\d+)", message)
            ok = reason == "AllNodesAtLatestRevision" and match and int(match.group(1)) > above
            return message if ok else None

        return wait_for(f"{resource} at the latest revision on {nodes} nodes", done, timeout, 2)

    def wait_members_available(self, timeout: float = 30) -> str:
        """The operator's condition follows the members within a few seconds, like OpenShift's."""
        expected = "3 members are available"
        return wait_for(
            f"EtcdMembersAvailable to say {expected!r}",
            lambda: expected if self.condition("etcd", "EtcdMembersAvailable") == expected else None,
            timeout,
        )

    def rollout_done(self, resource: str = "etcd") -> bool:
        """Every node runs the operator's latest revision (no installer is still rolling a node)."""
        status = self.kubectl_json("get", resource, "cluster").get("status") or {}
        latest = status.get("latestAvailableRevision")
        nodes = status.get("nodeStatuses") or []
        return bool(nodes) and all(n.get("currentRevision") == latest for n in nodes)

    def wait_settled(self, timeout: float = 240) -> str:
        """The etcd rollout finished on every node and then three pods run with three healthy members.

        After a replacement the operator keeps rolling the new revision node by node, restarting each etcd
        pod; what a report reads in between (a pod with 2/3 containers ready) is not the end state.
        """
        wait_for("the etcd rollout to finish", lambda: self.rollout_done("etcd"), timeout, 2)
        healthy = self.wait_three_healthy(timeout)
        for _ in range(3):  # and it holds: no pod restarting or turning unready right after
            time.sleep(1)
            healthy = self.wait_three_healthy(timeout)
        return healthy

    def wait_three_healthy(self, timeout: float = 150) -> str:
        def healthy() -> str | None:
            rows = self.etcd_pods()
            if len(rows) != 3 or any(r[1] != "3/3" or r[2] != "Running" for r in rows):
                return None
            out = self.etcdctl(rows[0][0], "endpoint", "health", "--cluster", check=False)
            return out if out.count("is healthy") == 3 else None

        return wait_for("3 etcd pods Running and 3 healthy members", healthy, timeout, 2)


def node_ip(node: str) -> str:
    match = re.fullmatch(r"ip-(\d+)-(\d+)-(\d+)-(\d+)\.ec2\.internal", node)
    assert match, node
    return ".".join(match.groups())


def lab_leftovers(root: Path) -> dict[str, list[str]]:
    """Processes, mounts and listening sockets a lab could leave behind."""
    processes = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(root) in cmd or re.search(r"127\.0\.0\.(1[1-9]|2\d):", cmd):
                processes.append(f"{entry.name}: {cmd[:120]}")
    mounts = [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(root) in line]
    sockets = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout
    listening = [line for line in sockets.splitlines() if re.search(r"127\.0\.0\.(1\d|2\d):", line)]
    return {"processes": processes, "mounts": mounts, "sockets": listening}
