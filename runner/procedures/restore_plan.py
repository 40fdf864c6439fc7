"""Planning ``/etcd restore`` (seed 3.3), pure: is this restore right, and exactly what will it run.

Every check the seed implies is made before anyone is asked to approve, because after approval the API
goes away and mistakes are expensive: the backup is from the cluster's own z-stream, both of its files are
there and belong together, the snapshot's SHA-256 checks, every master answers over SSH, and etcd really
has lost quorum (otherwise replacing the bad member is the right procedure, and restoring needs an
explicit override). Each problem is stated with what to do about it. The plan then names the recovery
host and every command, in the seed's order.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

RESTORE_SCRIPT = "/usr/local/bin/cluster-restore.sh"
STAGING_ROOT = "/home/core/etcdops-restore"  # the backup's copy on the recovery host: <root>/<run>
ASIDE_ROOT = "/var/lib/etcdops-aside"  # manifests and data moved off the other masters: <root>/<run>
MANIFESTS = "/etc/kubernetes/manifests"
DATA_DIR = "/var/lib/etcd"
OPERATORS = ("etcd", "kubeapiserver", "kubecontrollermanager", "kubescheduler")
OVERRIDE_FLAG = "--override-quorum"
STAMP = re.compile(r"(\d{4}-\d\d-\d\d_\d{6}(?:__POSSIBLY_DIRTY__)?)")


@dataclass(frozen=True)
class Host:
    node: str
    ip: str


@dataclass(frozen=True)
class RestoreFacts:
    """What the preflight found; ``files_problem`` is the backup files' check (made by the caller)."""

    backup_id: int
    backup_version: str
    cluster_version: str | None
    version_source: str  # "the API", or which backup it was read from while the API is down
    files_problem: str | None
    quorum_message: str | None  # EtcdMembersAvailable's message while quorum holds; None when lost
    masters: tuple[Host, ...]
    unreachable: dict[str, str]  # ip → why SSH failed


def same_backup(snapshot_name: str, resources_name: str | None) -> bool:
    """cluster-backup.sh names both files after one timestamp; different stamps mean two backups."""
    if not resources_name:
        return False
    snap, res = STAMP.search(snapshot_name), STAMP.search(resources_name)
    return bool(snap and res and snap.group(1) == res.group(1))


def preflight_problems(facts: RestoreFacts, *, override_quorum: bool) -> list[str]:
    """Every reason not to restore now, each with what to do instead (empty: go ahead)."""
    problems = []
    backup = f"backup #{facts.backup_id}"
    if facts.cluster_version is None:
        problems.append(
            f"the cluster's OpenShift version is unknown ({facts.version_source}), so the same-z-stream "
            "rule cannot be checked. Restore by hand, following the seed, if you are sure."
        )
    elif facts.backup_version != facts.cluster_version:
        problems.append(
            f"{backup} was taken on OpenShift {facts.backup_version}, but the cluster runs "
            f"{facts.cluster_version} (read from {facts.version_source}): a restore needs a backup from the "
            f"same z-stream. Pick one taken on {facts.cluster_version} (`/etcd backups`)."
        )
    if facts.files_problem:
        problems.append(f"{backup}: {facts.files_problem} Pick another backup (`/etcd backups`).")
    if not facts.masters:
        problems.append(
            "no master is known: the API does not answer and no backup recorded the masters. "
            "Restore by hand, following the seed."
        )
    for host in facts.masters:
        if host.ip in facts.unreachable:
            problems.append(
                f"master {host.node} ({host.ip}) does not answer over SSH: {facts.unreachable[host.ip]}. "
                "The restore runs over SSH on every master while the API is down: fix the host, its key "
                "or known_hosts entry, then try again."
            )
    if facts.quorum_message is not None and not override_quorum:
        problems.append(
            f"etcd still has quorum ({facts.quorum_message}). A restore rolls the whole cluster back; "
            "to fix one bad member, replace it instead (`/etcd diagnose`, then `/etcd replace MEMBER`). "
            f"If you really mean to restore, add `{OVERRIDE_FLAG}`."
        )
    return problems


class Refused(Exception):
    """This restore must not start; the message says why and what to do."""


def choose_recovery_host(masters: tuple[Host, ...], wanted: str | None) -> Host:
    """The master asked for (node name or address), else the first by name: all answered over SSH."""
    if not masters:
        raise Refused("no master is known")
    if wanted is None:
        return sorted(masters, key=lambda h: h.node)[0]
    match = next((h for h in masters if wanted in (h.node, h.ip)), None)
    if match is None:
        known = ", ".join(h.node for h in masters)
        raise Refused(f"--recovery-host {wanted}: no master has that name; the masters are {known}.")
    return match


@dataclass(frozen=True)
class RestorePlan:
    """The restore as the seed runs it, with this run's folders and unique redeployment reasons."""

    run_id: str
    backup_id: int
    recovery: Host
    others: tuple[Host, ...]
    snapshot_name: str
    resources_name: str
    snapshot_sha256: str
    reasons: dict[str, str]  # operator resource → its unique forceRedeploymentReason

    @property
    def staging(self) -> str:
        return f"{STAGING_ROOT}/{self.run_id}"

    @property
    def aside(self) -> str:
        return f"{ASIDE_ROOT}/{self.run_id}"

    def commands(self) -> list[str]:
        def ssh(host: Host, *argv: str) -> str:
            return f"ssh core@{host.ip} {shlex.join(['sudo', *argv])}"

        lines = [
            f"copy backup #{self.backup_id} ({self.snapshot_name}, {self.resources_name}) to "
            f"{self.recovery.node}:{self.staging}/ and check both SHA-256 sums there",
        ]
        for host in self.others:
            lines += [
                ssh(host, "mv", f"{MANIFESTS}/etcd-pod.yaml", f"{self.aside}/"),
                f"wait until `crictl ps` on {host.node} shows no etcd container",
                ssh(host, "mv", f"{MANIFESTS}/kube-apiserver-pod.yaml", f"{self.aside}/"),
                f"wait until `crictl ps` on {host.node} shows no kube-apiserver container",
                ssh(host, "mv", DATA_DIR, f"{self.aside}/etcd"),
            ]
        lines.append(ssh(self.recovery, "-E", RESTORE_SCRIPT, self.staging))
        lines += [ssh(host, "systemctl", "restart", "kubelet.service") for host in self.all_hosts]
        lines.append(f"wait for the single-member etcd container and pod on {self.recovery.node}")
        for operator in OPERATORS:
            patch = f'{{"spec": {{"forceRedeploymentReason": "{self.reasons[operator]}"}}}}'
            lines += [
                f"oc patch {operator} cluster --type=merge -p '{patch}'",
                f"wait until {operator} reports AllNodesAtLatestRevision",
            ]
        lines.append("wait for three running etcd pods and every member healthy")
        return lines

    @property
    def all_hosts(self) -> tuple[Host, ...]:
        return (self.recovery, *self.others)


def plan_restore(
    run_id: str,
    backup_id: int,
    masters: tuple[Host, ...],
    recovery: Host,
    snapshot_name: str,
    resources_name: str,
    snapshot_sha256: str,
    stamp: str,
) -> RestorePlan:
    """The plan for a restore that passed its preflight; ``stamp`` makes the reasons unique."""
    others = tuple(sorted((h for h in masters if h != recovery), key=lambda h: h.node))
    reasons = {operator: f"recovery-{stamp}-{operator}" for operator in OPERATORS}
    return RestorePlan(
        run_id, backup_id, recovery, others, snapshot_name, resources_name, snapshot_sha256, reasons
    )
