"""``/etcd restore BACKUP`` — seed 3.3: restoring to a previous cluster state after losing quorum.

The preflight (step 1) checks everything before anyone is asked to approve (see ``restore_plan``); the
rest of the plan follows from it, so the procedure is adaptive like ``replace``. One approval (the
``restore`` policy) covers the whole restore, on its first step. From there on the API is gone for a
while: every step up to the kubelet restarts works over SSH only, and the run keeps journaling and the
channel keeps being updated because neither depends on the cluster.

Every SSH step has a probe that reads the host (is the manifest already aside? the data directory? did
cluster-restore.sh already finish?), so a runner killed at any point resumes without redoing a move or,
worse, running cluster-restore.sh a second time over the restored member.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlmodel import Session

from runner.ports import ApiUnreachable, HostError, Hosts, Kube, path_exists
from runner.procedures.backup import ClusterClients, gather_backup_facts
from runner.procedures.restore_plan import (
    DATA_DIR,
    MANIFESTS,
    OPERATORS,
    RESTORE_SCRIPT,
    Host,
    Refused,
    RestoreFacts,
    RestorePlan,
    choose_recovery_host,
    plan_restore,
    preflight_problems,
    same_backup,
)
from runner.procedures.status import ETCD_NS, condition, pod_row
from runner.snapshots import check_snapshot
from runner.steps import Probe, ProbeResult, StepContext, StepFailed, StepSpec
from runner.stores import BackupStore, StoreError
from storage import backups
from storage.errors import NotFoundError
from storage.models import Backup

STOP_WAIT = 180.0
COME_BACK_WAIT = 300.0
ROLLOUT_WAIT = 420.0
ALL_AT = re.compile(r"\d+ nodes are at revision (\d+)")
RUN_SCRIPT = (
    'mkdir -p -- "$1" && touch -- "$1/restore.started" && "$2" "$1" > "$1/restore.log" 2>&1; '
    'code=$?; echo "$code" > "$1/restore.exit"; cat -- "$1/restore.log"; exit "$code"'
)


def gather_backup_files(backup: Backup, store: Callable[[str], BackupStore], staging: Path) -> Path:
    """A local folder holding both of the backup's files: where they are, when both are in one local
    folder; otherwise (an S3 store, or the tarball kept apart because etcd encryption is on) a staging
    folder they are fetched into. Raises StoreError when the store cannot give them back."""
    locations = backups.file_locations(backup)
    folders = {location.rsplit("/", 1)[0] for location in locations}
    if len(folders) == 1 and all(Path(location).is_absolute() for location in locations):
        return Path(folders.pop())
    staging.mkdir(parents=True, exist_ok=True)
    for location in locations:
        store(location).fetch(location, staging / location.rsplit("/", 1)[-1])
    return staging


def check_backup_files(backup: Backup, folder: Path) -> str | None:
    """Both files present in ``folder``, from the same backup, the snapshot whole and the one catalogued
    (or why not). Reads the snapshot once: its own appended hash and its SHA-256 in the same pass."""
    resources = backup.resources_name or "static_kuberesources_<stamp>.tar.gz"
    if not backup.resources_name or not (folder / backup.resources_name).is_file():
        return (
            f"its static-resources tarball {resources} is missing from {folder}; cluster-restore.sh needs it."
        )
    if not (folder / backup.snapshot_name).is_file():
        return f"its snapshot {backup.snapshot_name} is missing from {folder}."
    if not same_backup(backup.snapshot_name, backup.resources_name):
        return f"{backup.snapshot_name} and {backup.resources_name} come from two different backups."
    check = check_snapshot(folder / backup.snapshot_name)
    if not check.ok:
        return f"its snapshot {backup.snapshot_name} is corrupted: {check.reason}."
    if check.file_sha256 != backup.snapshot_sha256:
        return (
            f"its snapshot {backup.snapshot_name} is corrupted: its SHA-256 is {check.file_sha256[:12]}…, "
            f"not the {backup.snapshot_sha256[:12]}… recorded when it was taken."
        )
    return None


def _etcd_lines(listing: str, name: str) -> list[str]:
    """The seed's ``crictl ps | grep <name> | grep -v operator``."""
    return [line for line in listing.splitlines()[1:] if name in line and "operator" not in line]


class RestoreProcedure:
    name = "restore"
    destructive = True
    adaptive = True  # the preflight (step 1) finds the masters and the recovery host

    def __init__(
        self,
        clients: Callable[[str], ClusterClients],
        sessions: Callable[[], Session],
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        poll: float = 1.0,
        stores: Callable[[str, str], BackupStore] | None = None,
        staging: Path | None = None,
    ) -> None:
        self._clients = clients
        self._stores = stores  # (cluster, a file's location) → its store; None: local folders only
        self._staging = staging or Path(tempfile.gettempdir()) / "etcdops" / "restore"
        self._sessions = sessions
        self._now = now
        self._poll = poll

    # -- the preflight ------------------------------------------------------------------------------

    def _backup(self, cluster: str, backup_id: int) -> Backup:
        with self._sessions() as session:
            try:
                backup = backups.get_backup(backup_id, session=session)
            except NotFoundError:
                raise StepFailed(f"there is no backup #{backup_id}: `/etcd backups` lists them") from None
            session.expunge(backup)
        if backup.cluster != cluster:
            raise StepFailed(f"backup #{backup_id} is of {backup.cluster}, not {cluster}")
        return backup

    def _local_files(self, backup: Backup, ctx: StepContext) -> tuple[Path, str | None]:
        """The local folder with both files (fetched from the store if need be), and what is wrong."""
        stores = self._stores
        if stores is None:
            folder = Path(backup.location)
        else:
            try:
                folder = gather_backup_files(
                    backup, lambda location: stores(ctx.cluster, location), self._staging / ctx.run_id
                )
            except StoreError as exc:
                return Path(backup.location), f"its files could not be fetched from the backup store: {exc}"
        return folder, check_backup_files(backup, folder)

    def _cluster_view(self, kube: Kube, cluster: str) -> tuple[str | None, str, str | None, tuple[Host, ...]]:
        """(version, where it was read, quorum message if quorum holds, masters): from the API, or, when
        it does not answer, from the newest backup that recorded them."""
        try:
            facts = gather_backup_facts(kube, cluster)
            members = condition(kube.get("etcd", "cluster"), "EtcdMembersAvailable")
        except ApiUnreachable:
            with self._sessions() as session:
                known = [b for b in backups.list_backups(cluster, session=session) if b.masters]
            if not known:
                return None, "the API does not answer and no backup recorded it", None, ()
            newest = max(known, key=lambda b: b.taken_at)
            source = (
                f"backup #{newest.id} of {newest.taken_at:%Y-%m-%d %H:%M} UTC, as the API does not answer"
            )
            masters = tuple(Host(node, ip) for node, ip in backups.masters_of(newest))
            return newest.openshift_version, source, None, masters
        quorate = members.get("status") == "True"
        masters = tuple(Host(m.node, m.ip) for m in facts.masters)
        return (
            facts.openshift_version,
            "the API",
            str(members.get("message", "")) if quorate else None,
            masters,
        )

    def _unreachable(self, hosts: Hosts, masters: tuple[Host, ...]) -> dict[str, str]:
        found = {}
        for host in masters:
            try:
                answered = hosts.run(host.ip, ["true"], sudo=True, timeout=20)
            except HostError as exc:
                found[host.ip] = str(exc)
                continue
            if not answered.ok:
                found[host.ip] = f"sudo fails there: {answered.stderr.strip() or answered.exit_code}"
        return found

    def steps(self, context: StepContext) -> list[StepSpec]:
        clients = self._clients(context.cluster)
        kube, hosts = clients.kube, clients.hosts

        def preflight(ctx: StepContext) -> dict[str, Any]:
            backup = self._backup(ctx.cluster, int(ctx.params["backup"]))
            folder, files_problem = self._local_files(backup, ctx)
            version, source, quorum, masters = self._cluster_view(kube, ctx.cluster)
            facts = RestoreFacts(
                backup_id=int(ctx.params["backup"]),
                backup_version=backup.openshift_version,
                cluster_version=version,
                version_source=source,
                files_problem=files_problem,
                quorum_message=quorum,
                masters=masters,
                unreachable=self._unreachable(hosts, masters),
            )
            problems = preflight_problems(facts, override_quorum=bool(ctx.params.get("override_quorum")))
            if problems:
                listed = "\n".join(f"• {p}" for p in problems)
                raise StepFailed(f"not restoring: nothing was done and no approval is asked.\n{listed}")
            try:
                recovery = choose_recovery_host(masters, ctx.params.get("recovery_host"))
            except Refused as exc:
                raise StepFailed(f"not restoring: {exc}") from None
            plan = plan_restore(
                ctx.run_id,
                facts.backup_id,
                masters,
                recovery,
                backup.snapshot_name,
                str(backup.resources_name),
                backup.snapshot_sha256,
                f"{self._now():%Y-%m-%dT%H%M%S}-{ctx.run_id}",
            )
            commands = "\n".join(plan.commands())
            return {
                "recovery": [recovery.node, recovery.ip],
                "others": [[h.node, h.ip] for h in plan.others],
                "backup_id": facts.backup_id,
                "location": str(folder),
                "snapshot_name": backup.snapshot_name,
                "resources_name": plan.resources_name,
                "snapshot_sha256": backup.snapshot_sha256,
                "reasons": plan.reasons,
                "version": version,
                "log": f"OpenShift {version} (from {source}); recovery host {recovery.node}\n{commands}",
            }

        preflight_step = StepSpec(
            "preflight",
            "Preflight: version, backup files, SSH to every master, quorum",
            preflight,
            attempts=2,
        )
        planned = context.results.get("preflight")
        if planned is None or context.params.get("dry_run"):
            return [preflight_step]
        plan = RestorePlan(
            context.run_id,
            int(planned["backup_id"]),
            Host(*planned["recovery"]),
            tuple(Host(*h) for h in planned["others"]),
            planned["snapshot_name"],
            planned["resources_name"],
            planned["snapshot_sha256"],
            dict(planned["reasons"]),
        )
        return [preflight_step, *self._ssh_phase(plan, planned, hosts), *self._api_phase(plan, kube, hosts)]

    # -- over SSH, while the API is down -------------------------------------------------------------

    def _ssh_phase(self, plan: RestorePlan, planned: dict[str, Any], hosts: Hosts) -> list[StepSpec]:
        folder = Path(planned["location"])
        files = (plan.resources_name, plan.snapshot_name)
        recovery = plan.recovery.ip

        def on_host_sums() -> dict[str, str]:
            paths = [f"{plan.staging}/{name}" for name in files]
            listed = hosts.run(recovery, ["sha256sum", "--", *paths], sudo=True)
            sums = {}
            for line in listed.stdout.splitlines():
                digest, _, path = line.partition("  ")
                sums[path.rsplit("/", 1)[-1]] = digest
            return sums

        def copy_backup(ctx: StepContext) -> dict[str, Any]:
            made = hosts.run(recovery, ["mkdir", "-p", "--", plan.staging], sudo=True)
            if not made.ok:
                raise StepFailed(f"{recovery}: cannot create {plan.staging}: {made.stderr.strip()}")
            sent = {
                name: hosts.put(recovery, folder / name, f"{plan.staging}/{name}", sudo=True)
                for name in files
            }
            # put() already compared the host's SHA-256 of what it wrote with the bytes sent; the snapshot
            # must also still be the one catalogued.
            if sent[plan.snapshot_name] != plan.snapshot_sha256:
                raise StepFailed(f"{plan.snapshot_name} in the store changed since the preflight")
            return {
                "log": f"copied {' and '.join(files)} to {plan.recovery.node}:{plan.staging}, sums checked"
            }

        def copy_probe(ctx: StepContext) -> ProbeResult:
            there = on_host_sums()
            if there.get(plan.snapshot_name) == plan.snapshot_sha256 and plan.resources_name in there:
                return ProbeResult(Probe.DONE, f"the backup is already on {plan.recovery.node}", {})
            return ProbeResult(Probe.REDO, "the copy on the recovery host is missing or incomplete")

        def describe(ctx: StepContext) -> dict[str, Any]:
            snapshot = folder / plan.snapshot_name
            size = snapshot.stat().st_size if snapshot.exists() else "missing"
            return {
                "backup": f"#{plan.backup_id} {plan.snapshot_name} ({size} bytes, sha256 "
                f"{plan.snapshot_sha256[:16]}…)",
                "recovery host": f"{plan.recovery.node} ({plan.recovery.ip})",
                "commands": plan.commands(),
            }

        steps = [
            StepSpec(
                "copy-backup",
                f"Copy the backup to the recovery host {plan.recovery.node}",
                copy_backup,
                copy_probe,
                destructive=True,
                approval="restore",
                describe=describe,
            )
        ]
        for host in plan.others:
            steps += [
                self._stop_pod_step(hosts, plan, host, "etcd-pod.yaml", "etcd"),
                self._stop_pod_step(hosts, plan, host, "kube-apiserver-pod.yaml", "kube-apiserver"),
                self._move_data_step(hosts, plan, host),
            ]
        steps.append(self._restore_step(hosts, plan))

        def restart_kubelets(ctx: StepContext) -> dict[str, Any]:
            for host in plan.all_hosts:
                done = hosts.run(host.ip, ["systemctl", "restart", "kubelet.service"], sudo=True)
                if not done.ok:
                    raise StepFailed(
                        f"{host.node}: kubelet restart failed: {done.stderr.strip()}", retryable=True
                    )
            return {"log": f"kubelet restarted on {', '.join(h.node for h in plan.all_hosts)}"}

        # Restarting a kubelet twice is harmless: no probe needed.
        steps.append(StepSpec("restart-kubelets", "Restart kubelet on every master", restart_kubelets))
        return steps

    def _stop_pod_step(
        self, hosts: Hosts, plan: RestorePlan, host: Host, manifest: str, name: str
    ) -> StepSpec:
        live, aside = f"{MANIFESTS}/{manifest}", f"{plan.aside}/{manifest}"

        def running() -> list[str]:
            return _etcd_lines(hosts.run(host.ip, ["crictl", "ps"], sudo=True).stdout, name)

        def stop(ctx: StepContext) -> dict[str, Any]:
            hosts.run(host.ip, ["mkdir", "-p", "--", plan.aside], sudo=True)
            if path_exists(hosts, host.ip, live):
                moved = hosts.run(host.ip, ["mv", "--", live, f"{plan.aside}/"], sudo=True)
                if not moved.ok:
                    raise StepFailed(f"{host.node}: cannot move {live}: {moved.stderr.strip()}")
            deadline = time.monotonic() + STOP_WAIT
            while left := running():
                if time.monotonic() > deadline:
                    raise StepFailed(
                        f"{host.node}: {name} still runs {STOP_WAIT:.0f} s later:\n" + "\n".join(left)
                    )
                time.sleep(self._poll)
            return {"log": f"{host.node}: {live} moved to {plan.aside}/; no {name} container runs"}

        def probe(ctx: StepContext) -> ProbeResult:
            if path_exists(hosts, host.ip, live):
                return ProbeResult(Probe.REDO, f"{live} is still in place on {host.node}")
            if not path_exists(hosts, host.ip, aside):
                return ProbeResult(
                    Probe.ASK, f"{host.node} has {manifest} neither in {MANIFESTS} nor in {plan.aside}"
                )
            if running():
                return ProbeResult(
                    Probe.REDO, f"{manifest} is aside on {host.node} but {name} still runs: wait again"
                )
            return ProbeResult(
                Probe.DONE, f"{manifest} is already aside on {host.node} and {name} stopped", {}
            )

        return StepSpec(f"stop-{name}-{host.node}", f"Stop {name} on {host.node}", stop, probe)

    def _move_data_step(self, hosts: Hosts, plan: RestorePlan, host: Host) -> StepSpec:
        aside = f"{plan.aside}/etcd"

        def move(ctx: StepContext) -> dict[str, Any]:
            if not path_exists(hosts, host.ip, DATA_DIR):
                # an earlier, interrupted restore moved it already: what the seed needs is its absence
                return {"log": f"{host.node}: {DATA_DIR} is not there (moved aside before): nothing to move"}
            hosts.run(host.ip, ["mkdir", "-p", "--", plan.aside], sudo=True)
            moved = hosts.run(host.ip, ["mv", "--", DATA_DIR, aside], sudo=True)
            if not moved.ok:
                raise StepFailed(f"{host.node}: cannot move {DATA_DIR} aside: {moved.stderr.strip()}")
            return {"log": f"{host.node}: {DATA_DIR} moved to {aside}"}

        def probe(ctx: StepContext) -> ProbeResult:
            present = path_exists(hosts, host.ip, DATA_DIR)
            moved = path_exists(hosts, host.ip, aside)
            if moved and not present:
                return ProbeResult(Probe.DONE, f"{DATA_DIR} is already aside on {host.node}", {})
            if present and not moved:
                return ProbeResult(Probe.REDO, f"{DATA_DIR} is still in place on {host.node}")
            where = "in both places" if present else "in neither place"
            return ProbeResult(Probe.ASK, f"{host.node} has its etcd data {where} ({DATA_DIR}, {aside})")

        return StepSpec(f"move-data-{host.node}", f"Move the etcd data aside on {host.node}", move, probe)

    def _restore_step(self, hosts: Hosts, plan: RestorePlan) -> StepSpec:
        recovery = plan.recovery.ip

        def run_script(ctx: StepContext) -> dict[str, Any]:
            argv = ["bash", "-c", RUN_SCRIPT, "restore", plan.staging, RESTORE_SCRIPT]
            done = hosts.run(recovery, argv, sudo=True, timeout=1800)
            said = (done.stdout + done.stderr).strip()
            if not done.ok:
                tail = "\n".join(said.splitlines()[-8:])
                raise StepFailed(
                    f"cluster-restore.sh failed on {plan.recovery.node} (exit {done.exit_code}):\n{tail}"
                )
            return {"log": said}

        def probe(ctx: StepContext) -> ProbeResult:
            def read(name: str) -> str | None:
                found = hosts.run(recovery, ["cat", "--", f"{plan.staging}/{name}"], sudo=True)
                return found.stdout.strip() if found.ok else None

            if read("restore.started") is None:
                return ProbeResult(Probe.REDO, "cluster-restore.sh was not started")
            code = read("restore.exit")
            if code == "0":
                return ProbeResult(
                    Probe.DONE, "cluster-restore.sh already finished", {"log": read("restore.log") or ""}
                )
            log = f"{plan.recovery.node}:{plan.staging}/restore.log"
            if code is None:
                return ProbeResult(
                    Probe.ASK, f"cluster-restore.sh was started but did not report its end; read {log}"
                )
            return ProbeResult(Probe.ASK, f"cluster-restore.sh exited {code}; read {log}")

        return StepSpec(
            "restore",
            f"cluster-restore.sh on {plan.recovery.node}",
            run_script,
            probe,
            destructive=True,
            attempts=1,
        )

    # -- with the API back ---------------------------------------------------------------------------

    def _api_phase(self, plan: RestorePlan, kube: Kube, hosts: Hosts) -> list[StepSpec]:
        def single_member(ctx: StepContext) -> dict[str, Any]:
            deadline = time.monotonic() + COME_BACK_WAIT
            seen = ""
            while time.monotonic() < deadline:
                try:
                    listing = hosts.run(plan.recovery.ip, ["crictl", "ps"], sudo=True).stdout
                    container = [line for line in _etcd_lines(listing, "etcd") if "Running" in line]
                    if container:
                        seen = container[0]
                        pods = [pod_row(p) for p in kube.list("pods", ETCD_NS)]
                        running = [p for p in pods if p.name.startswith("etcd-") and p.status == "Running"]
                        if any(p.node == plan.recovery.node for p in running):
                            names = ", ".join(p.name for p in running)
                            return {"log": f"etcd container on {plan.recovery.node}: {seen}\npods: {names}"}
                except (ApiUnreachable, HostError):
                    pass
                time.sleep(self._poll)
            raise StepFailed(
                f"no running etcd pod on {plan.recovery.node} after {COME_BACK_WAIT:.0f} s ({seen})"
            )

        steps = [
            StepSpec(
                "single-member", "Wait for the single-member etcd and its pod", single_member, attempts=1
            )
        ]
        for operator in OPERATORS:
            steps += self._redeploy_steps(kube, operator, plan.reasons[operator])

        def three_pods(ctx: StepContext) -> dict[str, Any]:
            deadline = time.monotonic() + COME_BACK_WAIT
            last = ""
            while time.monotonic() < deadline:
                try:
                    pods = [
                        pod_row(p)
                        for p in kube.list("pods", ETCD_NS)
                        if p["metadata"]["name"].startswith("etcd-")
                    ]
                    ready = [
                        p
                        for p in pods
                        if p.status == "Running" and p.ready.split("/")[0] == p.ready.split("/")[1]
                    ]
                    last = ", ".join(f"{p.name} {p.ready} {p.status}" for p in pods)
                    if len(ready) >= 3:
                        health = kube.exec(
                            ETCD_NS,
                            ready[0].name,
                            ["etcdctl", "endpoint", "health", "--cluster", "--command-timeout=3s"],
                            container="etcdctl",
                        )
                        if health.ok:
                            return {"log": f"{last}\n{health.stdout.strip()}"}
                        last += "\n" + (health.stdout + health.stderr).strip()
                except ApiUnreachable as exc:
                    last = str(exc)
                time.sleep(self._poll)
            raise StepFailed(f"not three healthy etcd pods after {COME_BACK_WAIT:.0f} s: {last}")

        def nodes_ready(ctx: StepContext) -> dict[str, Any]:
            # The restore is done with the backup's files: a copy fetched from the store goes now.
            shutil.rmtree(self._staging / ctx.run_id, ignore_errors=True)
            nodes = kube.list("nodes")
            not_ready = [
                str(n["metadata"]["name"]) for n in nodes if condition(n, "Ready").get("status") != "True"
            ]
            if not_ready:
                return {
                    "not_ready": not_ready,
                    "log": f"NotReady: {', '.join(not_ready)}. Their kubelet certificates may need new CSRs "
                    "approved: run `/etcd csr`.",
                }
            return {"not_ready": [], "log": f"all {len(nodes)} nodes Ready"}

        return [
            *steps,
            StepSpec(
                "three-pods", "Wait for three running etcd pods, every member healthy", three_pods, attempts=1
            ),
            StepSpec("nodes", "Check that every node is Ready", nodes_ready),
        ]

    def _redeploy_steps(self, kube: Kube, operator: str, reason: str) -> list[StepSpec]:
        def revision() -> int:
            return int(
                (kube.get(operator, "cluster").get("status") or {}).get("latestAvailableRevision") or 0
            )

        def note(ctx: StepContext) -> dict[str, Any]:
            return {"before": revision()}

        def force(ctx: StepContext) -> dict[str, Any]:
            kube.patch(operator, "cluster", {"spec": {"forceRedeploymentReason": reason}})
            return {"log": f"{operator}: forceRedeploymentReason {reason}"}

        def force_probe(ctx: StepContext) -> ProbeResult:
            current = (kube.get(operator, "cluster").get("spec") or {}).get("forceRedeploymentReason")
            if current == reason:
                return ProbeResult(Probe.DONE, f"the {operator} redeployment was already forced", {})
            return ProbeResult(Probe.REDO, f"the {operator} redeployment was not forced yet")

        def rolled_out(ctx: StepContext) -> dict[str, Any]:
            before = int(ctx.results[f"note-{operator}"]["before"])
            deadline = time.monotonic() + ROLLOUT_WAIT
            message = ""
            while time.monotonic() < deadline:
                try:
                    found = kube.get(operator, "cluster")
                except ApiUnreachable as exc:
                    message = str(exc)
                else:
                    progressing = condition(found, "NodeInstallerProgressing")
                    message = str(progressing.get("message", ""))
                    # the condition's own revision, not latestAvailableRevision: right after a bump the
                    # condition still says AllNodesAtLatestRevision about the revision before
                    at = ALL_AT.fullmatch(message)
                    if progressing.get("reason") == "AllNodesAtLatestRevision" and at and int(at[1]) > before:
                        return {"log": f"{operator}: {message}", "revision": int(at[1])}
                time.sleep(self._poll)
            raise StepFailed(
                f"{operator} did not reach AllNodesAtLatestRevision in {ROLLOUT_WAIT:.0f} s: {message}"
            )

        return [
            StepSpec(f"note-{operator}", f"Note {operator}'s latest revision", note),
            StepSpec(f"redeploy-{operator}", f"Force a redeployment of {operator}", force, force_probe),
            StepSpec(
                f"wait-{operator}",
                f"Wait until every node runs {operator}'s new revision",
                rolled_out,
                attempts=1,
            ),
        ]

    def summary(self, context: StepContext) -> str:
        planned = context.results.get("preflight", {})
        backup, node = planned.get("backup_id", "?"), (planned.get("recovery") or ["?"])[0]
        if context.params.get("dry_run"):
            return f"dry run: restore of backup #{backup} on {node} planned; nothing was done"
        not_ready = context.results.get("nodes", {}).get("not_ready") or []
        tail = f"; NotReady: {', '.join(not_ready)} — run `/etcd csr`" if not_ready else ""
        return f"cluster restored from backup #{backup} (recovery host {node}); 3 etcd pods running{tail}"
