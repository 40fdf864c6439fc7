"""Where the lab keeps its files: one folder that `lab down` can remove entirely.

The lab folder is the only contract between the lab and the bot: the kubeconfig, the SSH key and
known_hosts, and ``cluster.yaml`` (the cluster profile the bot loads unchanged) all live here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

LAB_DIR_ENV = "ETCDOPS_LAB_DIR"
DEFAULT_LAB_DIR = ".lab"

# Paths that each lab host sees as its own folder, through its mount namespace.
HOST_PRIVATE_PATHS = ("/etc/kubernetes", "/var/lib", "/home/core", "/usr/local/bin", "/tmp")


def resolve_lab_dir(explicit: str | None = None) -> Path:
    """The lab folder: ``--dir``, else ``$ETCDOPS_LAB_DIR``, else ``.lab`` in the current folder."""
    chosen = explicit or os.environ.get(LAB_DIR_ENV) or DEFAULT_LAB_DIR
    return Path(chosen).absolute()


@dataclass(frozen=True)
class LabPaths:
    root: Path

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def cluster_profile(self) -> Path:
        return self.root / "cluster.yaml"

    @property
    def ssh_dir(self) -> Path:
        return self.root / "ssh"

    @property
    def ssh_key(self) -> Path:
        return self.ssh_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.ssh_dir / "known_hosts"

    @property
    def authorized_keys(self) -> Path:
        return self.ssh_dir / "authorized_keys"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def hosts(self) -> Path:
        return self.root / "hosts"

    @property
    def state_file(self) -> Path:
        """The supervisor's record of hosts and faults; survives its own restarts."""
        return self.root / "state.json"

    @property
    def supervisor_pid(self) -> Path:
        return self.root / "supervisor.pid"

    @property
    def audit_log(self) -> Path:
        return self.logs / "audit.jsonl"

    @property
    def token_file(self) -> Path:
        return self.pki / "tokens.csv"

    def host(self, name: str) -> HostPaths:
        return HostPaths(self.hosts / name)


@dataclass(frozen=True)
class HostPaths:
    """A host's folder: ``fs/`` holds what the host sees at OpenShift's paths."""

    root: Path

    @property
    def fs(self) -> Path:
        return self.root / "fs"

    def private(self, path: str) -> Path:
        """The backing folder of one of the host's private paths, e.g. ``/var/lib``."""
        return self.fs / path.strip("/").replace("/", "_")

    def inside(self, path: str) -> Path:
        """Where a path seen inside the host lives from outside, e.g. ``/var/lib/etcd``."""
        for private in sorted(HOST_PRIVATE_PATHS, key=len, reverse=True):
            if path == private or path.startswith(private + "/"):
                return self.private(private) / path[len(private) :].lstrip("/")
        raise ValueError(f"{path} is not one of a lab host's own paths {HOST_PRIVATE_PATHS}")

    @property
    def sshd_dir(self) -> Path:
        return self.root / "sshd"

    @property
    def passwd(self) -> Path:
        return self.root / "passwd"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def agent_log(self) -> Path:
        return self.root / "agent.log"
