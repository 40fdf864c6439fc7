"""``/etcd backup`` (seed 1.1): one ``cluster-backup.sh`` on one healthy master, both files copied off.

Pure parts (preflight, host choice, naming) are separate from the steps that act through the ports.
The snapshot is written to a folder named after the run (``/home/core/etcdops-backups/<run>``), which is
what makes the step's probe possible: after a crash, a complete pair of files there means the snapshot
was taken and must not be taken again; an incomplete pair is cleaned up and redone.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session

from runner.adapters.local_store import LocalFolderStore
from runner.ports import FetchedFile, HostError, Hosts, Kube
from runner.snapshots import SnapshotDigest, check_snapshot, sha256_file
from runner.steps import Probe, ProbeResult, StepContext, StepFailed, StepSpec
from runner.stores import BackupStore, StoreError, backup_path
from runner.submit import submit_run
from storage import backups, runs

REMOTE_ROOT = "/home/core/etcdops-backups"
BACKUP_SCRIPT = "/usr/local/bin/cluster-backup.sh"
ETCD_ENV = "/etc/kubernetes/static-pod-resources/etcd-certs/configmaps/etcd-scripts/etcd.env"
FIRST_ROTATION = dt.timedelta(hours=24)
PROXY_VARIABLES = {"httpProxy": "HTTP_PROXY", "httpsProxy": "HTTPS_PROXY", "noProxy": "NO_PROXY"}
SNAPSHOT = re.compile(r"^snapshot_(\d{4}-\d\d-\d\d_\d{6})(__POSSIBLY_DIRTY__)?\.db$")


@dataclass(frozen=True)
class Master:
    node: str
    ip: str
    ready: bool


@dataclass(frozen=True)
class BackupFacts:
    cluster: str
    openshift_version: str
    installed_at: dt.datetime | None
    proxy: dict[str, str]
    masters: tuple[Master, ...]
    etcd_encrypted: bool = False  # then the static-resources tarball holds the keys: stored apart


def _ip(node: dict[str, Any]) -> str:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address["address"])
    return ""


def gather_backup_facts(kube: Kube, cluster: str) -> BackupFacts:
    version = kube.get("clusterversion", "version")
    status = version.get("status") or {}
    history = status.get("history") or []
    started = [h.get("startedTime") for h in history if h.get("startedTime")]
    installed = dt.datetime.fromisoformat(min(started).replace("Z", "+00:00")) if started else None
    proxy_status = kube.get("proxy", "cluster").get("status") or {}
    proxy = {k: str(proxy_status[k]) for k in ("httpProxy", "httpsProxy", "noProxy") if proxy_status.get(k)}
    masters = []
    for node in kube.list("nodes", label_selector="node-role.kubernetes.io/master"):
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (node.get("status") or {}).get("conditions") or []
        )
        masters.append(Master(str(node["metadata"]["name"]), _ip(node), ready))
    return BackupFacts(
        cluster=cluster,
        openshift_version=str((status.get("desired") or {}).get("version", "unknown")),
        installed_at=installed,
        proxy=proxy,
        masters=tuple(sorted(masters, key=lambda m: m.node)),
        etcd_encrypted=etcd_encryption_on(kube),
    )


def etcd_encryption_on(kube: Kube) -> bool:
    """Is etcd encryption on (``apiserver/cluster`` ``spec.encryption.type`` aescbc or aesgcm)? Then the
    static-resources tarball carries the encryption keys, and the store keeps it apart."""
    found = [a for a in kube.list("apiserver") if (a.get("metadata") or {}).get("name") == "cluster"]
    spec = (found[0].get("spec") or {}) if found else {}
    return str((spec.get("encryption") or {}).get("type") or "identity") not in ("", "identity")


def preflight(facts: BackupFacts, now: dt.datetime) -> list[str]:
    """Reasons not to back up now, each saying what to do instead (empty: go ahead)."""
    problems = []
    if facts.installed_at and now - facts.installed_at < FIRST_ROTATION:
        ready_at = facts.installed_at + FIRST_ROTATION
        problems.append(
            "the cluster is younger than its first certificate rotation (24 h after installation): a backup "
            f"now would hold certificates that expire soon. Back up after {ready_at:%Y-%m-%d %H:%M} UTC."
        )
    if not any(m.ready for m in facts.masters):
        problems.append("no master node is Ready: nothing can run cluster-backup.sh; see `/etcd status`")
    return problems


def choose_hosts(facts: BackupFacts, wanted: str | None) -> list[Master]:
    """Masters to try, in order: the one asked for (``--host``), else every Ready master."""
    ready = [m for m in facts.masters if m.ready]
    if wanted is None:
        return ready
    match = [m for m in facts.masters if wanted in (m.node, m.ip)]
    if not match:
        known = ", ".join(m.node for m in facts.masters)
        raise StepFailed(f"--host {wanted}: no master has that name; masters: {known}")
    if not match[0].ready:
        raise StepFailed(f"--host {wanted}: that master is not Ready; leave --host out to use a healthy one")
    return match


def remote_dir(run_id: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9-]+", run_id):
        raise ValueError(f"run id {run_id!r} is not safe in a path")
    return f"{REMOTE_ROOT}/{run_id}"


@dataclass(frozen=True)
class SnapshotOnHost:
    host: str
    folder: str
    snapshot: str
    resources: str
    output: str = ""


def _pair(names: list[str]) -> tuple[str, str] | None:
    for name in names:
        match = SNAPSHOT.match(name)
        if match:
            stamp = match.group(1) + (match.group(2) or "")
            resources = f"static_kuberesources_{stamp}.tar.gz"
            if resources in names:
                return name, resources
    return None


def _listing(hosts: Hosts, host: str, folder: str) -> list[str]:
    listed = hosts.run(host, ["ls", "-1", folder], sudo=True)
    return listed.stdout.split() if listed.ok else []


def probe_snapshot(hosts: Hosts, host: str, folder: str) -> ProbeResult:
    """Done when the run's folder holds a complete snapshot + resources pair whose snapshot checks."""
    names = _listing(hosts, host, folder)
    pair = _pair(names)
    if pair is None:
        return ProbeResult(Probe.REDO, f"no complete backup in {host}:{folder} ({len(names)} files)")
    status = snapshot_status(hosts, host, f"{folder}/{pair[0]}")
    if status is None:
        return ProbeResult(Probe.REDO, f"{host}:{folder}/{pair[0]} is incomplete")
    return ProbeResult(Probe.DONE, f"{host}:{folder} already holds {pair[0]} and {pair[1]}")


def snapshot_status(hosts: Hosts, host: str, path: str) -> dict[str, Any] | None:
    """``etcdutl snapshot status -w json`` on the host (revision, keys), or None if it cannot read it."""
    script = f'source {shlex.quote(ETCD_ENV)} && "$ETCD_ETCDUTL_BIN" snapshot status "$1" -w json'
    result = hosts.run(host, ["bash", "-c", script, "snapshot-status", path], sudo=True)
    if not result.ok:
        return None
    try:
        parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return parsed


PREPARE = (
    'rm -rf -- "$1" && mkdir -p -- "$2" && stat -c %s /var/lib/etcd/member/snap/db && '
    'df -B1 --output=avail -- "$2" | tail -n 1'
)
BACKUP_AND_LIST = '"$@"; code=$?; echo "@@etcdops-files@@"; ls -1 -- "${@: -1}"; exit $code'
FILES_MARK = "@@etcdops-files@@"


def _numbers(text: str) -> list[int]:
    return [int(word) for word in text.split() if word.isdigit()]


def take_snapshot(hosts: Hosts, host: str, folder: str, *, proxy: dict[str, str]) -> SnapshotOnHost:
    """Run cluster-backup.sh into the run's folder (cleaning a partial attempt first), after checking the
    host has room for it. Two SSH round trips in all: the figures first, then the script and a listing."""
    prepared = hosts.run(host, ["bash", "-c", PREPARE, "prepare", folder, REMOTE_ROOT], sudo=True)
    figures = _numbers(prepared.stdout)
    if not prepared.ok or len(figures) != 2:
        raise StepFailed(
            f"{host}: cannot prepare {REMOTE_ROOT} or read the etcd database size: "
            f"{(prepared.stderr or prepared.stdout).strip()[-300:]}",
            retryable=True,
        )
    db_size, available = figures
    if available < 2 * db_size:
        raise StepFailed(
            f"{host}: only {available / 2**20:.1f} MiB free in {REMOTE_ROOT}; a backup needs twice the "
            f"etcd database ({2 * db_size / 2**20:.1f} MiB). Free space on the host, or choose another "
            "master with --host. Nothing was written."
        )
    # The seed: export NO_PROXY, HTTP_PROXY and HTTPS_PROXY when the cluster-wide proxy is enabled.
    env = [f"{PROXY_VARIABLES[k]}={v}" for k, v in proxy.items() if k in PROXY_VARIABLES]
    script = ["env", *env, BACKUP_SCRIPT, folder] if env else [BACKUP_SCRIPT, folder]
    result = hosts.run(host, ["bash", "-c", BACKUP_AND_LIST, "backup", *script], sudo=True, timeout=1800)
    said, _, listing = result.stdout.partition(FILES_MARK)
    output = (said + result.stderr).strip()
    if not result.ok:
        hosts.run(host, ["rm", "-rf", "--", folder], sudo=True)
        tail = "\n".join(script_log(output).splitlines()[-5:])
        full = "No space left on device" in output
        raise StepFailed(
            f"{host}: cluster-backup.sh failed (exit {result.exit_code}); its files were removed:\n{tail}",
            retryable=not full,
        )
    pair = _pair(listing.split())
    if pair is None:
        raise StepFailed(f"{host}: cluster-backup.sh succeeded but {folder} lacks the two files")
    return SnapshotOnHost(host, folder, pair[0], pair[1], output)


def script_log(output: str, lines: int = 15) -> str:
    """What cluster-backup.sh said, for the run's thread: its own lines, not etcdctl's JSON debug log."""
    said = [line for line in output.splitlines() if line.strip() and not line.startswith('{"level"')]
    return "\n".join(said[-lines:])


def locate_snapshot(hosts: Hosts, host: str, folder: str) -> SnapshotOnHost:
    pair = _pair(_listing(hosts, host, folder))
    if pair is None:
        raise StepFailed(f"{host}:{folder} no longer holds the backup files")
    return SnapshotOnHost(host, folder, pair[0], pair[1])


@dataclass(frozen=True)
class CopiedBackup:
    folder: Path
    snapshot: Path
    resources: Path
    snapshot_sha256: str
    snapshot_size: int
    resources_sha256: str
    resources_size: int


def _copy_resources(hosts: Hosts, taken: SnapshotOnHost, destination: Path) -> FetchedFile:
    """The static-resources tarball (small): copied, then compared with the host's own sha256sum."""
    remote = f"{taken.folder}/{taken.resources}"
    fetched = hosts.fetch(taken.host, remote, destination / taken.resources, sudo=True)
    on_host = hosts.run(taken.host, ["sha256sum", "--", remote], sudo=True).stdout.split()
    if not on_host or on_host[0] != fetched.sha256:
        fetched.local_path.unlink(missing_ok=True)
        raise StepFailed(f"the copy of {remote} differs from the file on {taken.host}", retryable=True)
    return fetched


def copy_off(hosts: Hosts, taken: SnapshotOnHost, destination: Path) -> CopiedBackup:
    """Copy both files off the host. The snapshot is checked against its own appended SHA-256 as it
    streams (which proves it is exactly what etcd wrote, end to end, without reading 8 GB twice); the
    tarball against the host's sha256sum. A copy that fails its check is deleted, never recorded."""
    resources = _copy_resources(hosts, taken, destination)
    digest = SnapshotDigest()
    remote = f"{taken.folder}/{taken.snapshot}"
    snapshot = hosts.fetch(taken.host, remote, destination / taken.snapshot, sudo=True, digest=digest)
    check = digest.check()
    if not check.ok:
        snapshot.local_path.unlink(missing_ok=True)
        raise StepFailed(f"the copy of {taken.snapshot}: {check.reason}", retryable=True)
    return CopiedBackup(
        destination,
        snapshot.local_path,
        resources.local_path,
        snapshot.sha256,
        snapshot.size,
        resources.sha256,
        resources.size,
    )


def copy_result(
    destination: Path, snapshot_sha256: str, snapshot_size: int, resources_size: int
) -> dict[str, Any]:
    """What the copy step hands on (journaled): where the files are, and the snapshot's checksum."""
    return {
        "location": str(destination),
        "snapshot_sha256": snapshot_sha256,
        "snapshot_size": snapshot_size,
        "resources_size": resources_size,
        "snapshot_hash": "verified",
    }


def probe_copy(hosts: Hosts, taken: SnapshotOnHost, destination: Path) -> ProbeResult:
    """Done when both local copies are whole: the tarball matches the host's sha256sum, the snapshot has
    the host's size and its appended hash checks. The result is the copy step's, from that one read."""
    snapshot, resources = destination / taken.snapshot, destination / taken.resources
    for local in (snapshot, resources):
        if not local.exists():
            return ProbeResult(Probe.REDO, f"{local} is missing")
    on_host = hosts.run(
        taken.host, ["sha256sum", "--", f"{taken.folder}/{taken.resources}"], sudo=True
    ).stdout.split()
    if not on_host or sha256_file(resources) != on_host[0]:
        return ProbeResult(Probe.REDO, f"{resources} differs from the host's file")
    remote_size = hosts.run(
        taken.host, ["stat", "-c", "%s", "--", f"{taken.folder}/{taken.snapshot}"], sudo=True
    ).stdout.strip()
    check = check_snapshot(snapshot)
    if not check.ok or str(check.size) != remote_size:
        return ProbeResult(Probe.REDO, f"{snapshot} is incomplete or damaged")
    result = copy_result(destination, check.file_sha256, check.size, resources.stat().st_size)
    return ProbeResult(Probe.DONE, f"both files are already in {destination}", result)


def keep_local(
    destination: Path, resources: str, cluster: str, run_id: str, encrypted: bool
) -> dict[str, Any]:
    """The local store keeps the copy where it landed; with etcd encryption on, the tarball (it holds
    the keys) moves under the store's ``static-resources/`` folder."""
    result: dict[str, Any] = {"location": str(destination)}
    if not encrypted:
        return result
    root = destination.parent.parent  # <store>/<cluster>/<run>
    store = LocalFolderStore(root)
    source = destination / resources
    apart = root / backup_path(cluster=cluster, run_id=run_id, name=resources, secret=True)
    if source.exists():
        store.put(
            source, cluster=cluster, run_id=run_id, name=resources, sha256=sha256_file(source), secret=True
        )
        source.unlink()
    elif not apart.exists():
        raise StepFailed(f"the static-resources tarball is neither in {destination} nor in {apart.parent}")
    result["resources_location"] = str(apart.parent)
    return result


def upload(
    store: BackupStore,
    staging: Path,
    taken: dict[str, Any],
    copied: dict[str, Any],
    cluster: str,
    run_id: str,
    *,
    encrypted: bool,
) -> dict[str, Any]:
    """Put both files in the off-site store (each checked there against its SHA-256), then free the
    staging copy. The snapshot's checksum is the one verified while it streamed off the master."""
    try:
        snapshot = store.put(
            staging / taken["snapshot"],
            cluster=cluster,
            run_id=run_id,
            name=taken["snapshot"],
            sha256=copied["snapshot_sha256"],
        )
        resources_file = staging / taken["resources"]
        resources = store.put(
            resources_file,
            cluster=cluster,
            run_id=run_id,
            name=taken["resources"],
            sha256=sha256_file(resources_file),
            secret=encrypted,
        )
    except StoreError as exc:
        raise StepFailed(str(exc), retryable=exc.retryable) from exc
    shutil.rmtree(staging, ignore_errors=True)
    folder = snapshot.location.rsplit("/", 1)[0]
    resources_folder = resources.location.rsplit("/", 1)[0]
    return {
        "location": folder,
        "resources_location": resources_folder if resources_folder != folder else None,
        "resources_sha256": resources.sha256,
    }


def probe_upload(
    store: BackupStore, taken: dict[str, Any], copied: dict[str, Any], cluster: str, run_id: str
) -> ProbeResult:
    """Done when the snapshot is in the store with the catalog's checksum, and the tarball is there
    (beside it or apart); otherwise upload again from staging."""
    snapshot_at = (
        store.describe().rstrip("/")
        + "/"
        + backup_path(cluster=cluster, run_id=run_id, name=taken["snapshot"], secret=False)
    )
    found = store.stat(snapshot_at)
    if found is None or not found.matches(size=copied["snapshot_size"], sha256=copied["snapshot_sha256"]):
        return ProbeResult(Probe.REDO, "the snapshot is not (whole) in the store yet")
    for secret in (False, True):
        resources_at = (
            store.describe().rstrip("/")
            + "/"
            + backup_path(cluster=cluster, run_id=run_id, name=taken["resources"], secret=secret)
        )
        there = store.stat(resources_at)
        if there is not None and there.size == copied["resources_size"]:
            folder = snapshot_at.rsplit("/", 1)[0]
            apart = resources_at.rsplit("/", 1)[0]
            return ProbeResult(
                Probe.DONE,
                "both files are in the store",
                {"location": folder, "resources_location": apart if apart != folder else None},
            )
    return ProbeResult(Probe.REDO, "the static-resources tarball is not in the store yet")


@dataclass(frozen=True)
class ClusterClients:
    """The adapters for one cluster, made from its clusters-file entry."""

    kube: Kube
    hosts: Hosts


class BackupProcedure:
    """The backup run as engine steps: preflight, snapshot (on the first healthy master that answers),
    copy off, verify, record in the catalog. Each step after preflight has a probe."""

    name = "backup"
    destructive = False
    adaptive = False

    def __init__(
        self,
        clients: Callable[[str], ClusterClients],
        store_root: Callable[[str], Path],
        sessions: Callable[[], Session],
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        store: Callable[[str], BackupStore | None] = lambda cluster: None,
        retention: Callable[[str], bool] = lambda cluster: False,
    ) -> None:
        self._retention = retention  # does the cluster have a retention policy (prune after each backup)?
        self._clients = clients
        self._store_root = store_root  # where the copy lands: the local store, or staging for S3
        self._sessions = sessions
        self._now = now
        self._store = store  # the off-site store the copy is uploaded to (None: the copy is stored)

    def steps(self, context: StepContext) -> list[StepSpec]:
        clients = self._clients(context.cluster)
        folder = remote_dir(context.run_id)
        destination = self._store_root(context.cluster) / context.run_id

        def preflight_step(ctx: StepContext) -> dict[str, Any]:
            facts = gather_backup_facts(clients.kube, ctx.cluster)
            problems = preflight(facts, self._now())
            if problems:
                raise StepFailed("; ".join(problems))
            candidates = choose_hosts(facts, ctx.params.get("host"))
            return {
                "version": facts.openshift_version,
                "encrypted": facts.etcd_encrypted,
                "proxy": facts.proxy,
                "hosts": [m.ip for m in candidates],
                "nodes": [m.node for m in candidates],
                "masters": [[m.node, m.ip] for m in facts.masters],
            }

        def snapshot_step(ctx: StepContext) -> dict[str, Any]:
            facts = ctx.results["preflight"]
            tried = []
            for host in facts["hosts"]:
                try:
                    taken = take_snapshot(clients.hosts, host, folder, proxy=facts["proxy"])
                except HostError as exc:
                    tried.append(str(exc))
                    continue
                return {
                    "host": host,
                    "folder": folder,
                    "snapshot": taken.snapshot,
                    "resources": taken.resources,
                    "log": script_log(taken.output),
                }
            raise StepFailed("no master could take the backup: " + "; ".join(tried), retryable=True)

        def snapshot_probe(ctx: StepContext) -> ProbeResult:
            for host in ctx.results["preflight"]["hosts"]:
                try:
                    verdict = probe_snapshot(clients.hosts, host, folder)
                except HostError:
                    continue
                if verdict.verdict is Probe.DONE:
                    found = locate_snapshot(clients.hosts, host, folder)
                    return ProbeResult(
                        Probe.DONE,
                        verdict.reason,
                        {
                            "host": host,
                            "folder": folder,
                            "snapshot": found.snapshot,
                            "resources": found.resources,
                        },
                    )
            return ProbeResult(Probe.REDO, "no complete snapshot of this run on any master")

        def on_host(ctx: StepContext) -> SnapshotOnHost:
            taken = ctx.results["snapshot"]
            return SnapshotOnHost(taken["host"], taken["folder"], taken["snapshot"], taken["resources"])

        def copy_step(ctx: StepContext) -> dict[str, Any]:
            copied = copy_off(clients.hosts, on_host(ctx), destination)
            return copy_result(
                destination, copied.snapshot_sha256, copied.snapshot_size, copied.resources_size
            )

        def copy_probe(ctx: StepContext) -> ProbeResult:
            return probe_copy(clients.hosts, on_host(ctx), destination)

        def verify_step(ctx: StepContext) -> dict[str, Any]:
            taken = on_host(ctx)
            status = snapshot_status(clients.hosts, taken.host, f"{taken.folder}/{taken.snapshot}")
            if status is None:
                raise StepFailed(f"etcdutl cannot read {taken.snapshot} on {taken.host}", retryable=True)
            return {"revision": status.get("revision"), "keys": status.get("totalKey")}

        offsite = self._store(context.cluster)

        def store_step(ctx: StepContext) -> dict[str, Any]:
            taken, copied = ctx.results["snapshot"], ctx.results["copy"]
            encrypted = bool(ctx.results["preflight"].get("encrypted"))
            if offsite is None:
                return keep_local(destination, taken["resources"], ctx.cluster, ctx.run_id, encrypted)
            return upload(offsite, destination, taken, copied, ctx.cluster, ctx.run_id, encrypted=encrypted)

        def store_probe(ctx: StepContext) -> ProbeResult:
            if offsite is None:
                return ProbeResult(Probe.REDO, "moving the tarball aside again is harmless")
            return probe_upload(
                offsite, ctx.results["snapshot"], ctx.results["copy"], ctx.cluster, ctx.run_id
            )

        def catalog_step(ctx: StepContext) -> dict[str, Any]:
            with self._sessions() as session:
                existing = [
                    b for b in backups.list_backups(ctx.cluster, session=session) if b.run_id == ctx.run_id
                ]
                if existing:
                    return {"backup_id": existing[0].id}
                taken, copied, verified = ctx.results["snapshot"], ctx.results["copy"], ctx.results["verify"]
                stored = ctx.results.get("store") or copied
                entry = backups.record_backup(
                    session=session,
                    cluster=ctx.cluster,
                    host=taken["host"],
                    openshift_version=ctx.results["preflight"]["version"],
                    snapshot_size=copied["snapshot_size"],
                    snapshot_sha256=copied["snapshot_sha256"],
                    location=stored["location"],
                    resources_location=stored.get("resources_location"),
                    snapshot_name=taken["snapshot"],
                    resources_name=taken["resources"],
                    resources_size=copied["resources_size"],
                    etcd_revision=verified["revision"],
                    key_count=verified["keys"],
                    taken_at=self._now(),
                    run_id=ctx.run_id,
                    masters=[(node, ip) for node, ip in ctx.results["preflight"].get("masters", [])],
                )
                assert entry.id is not None
                backups.record_verification(entry.id, session=session, ok=True, detail="sha256 checked")
                return {"backup_id": entry.id}

        def retention_step(ctx: StepContext) -> dict[str, Any]:
            # Redone after a crash, a second prune run finds nothing left to prune: harmless.
            with self._sessions() as session:
                backup_run = runs.get_run(ctx.run_id, session=session)
                run = submit_run(
                    session=session,
                    procedure="prune",
                    cluster=ctx.cluster,
                    requested_by=backup_run.requested_by,
                    channel=backup_run.channel,
                    params={"after": ctx.run_id},
                )
            return {"prune_run": getattr(run, "id", None)}

        return [
            StepSpec("preflight", "Preflight: cluster age, proxy, a Ready master", preflight_step),
            StepSpec("snapshot", "cluster-backup.sh on a healthy master", snapshot_step, snapshot_probe),
            StepSpec(
                "copy",
                "Copy both files off the host, checking the snapshot's own SHA-256 as it streams",
                copy_step,
                copy_probe,
            ),
            StepSpec("verify", "Read the snapshot's revision and key count (etcdutl)", verify_step),
            StepSpec(
                "store",
                f"Upload both files to {offsite.describe()} and check their SHA-256 there"
                if offsite is not None
                else "Keep the static-resources tarball apart when etcd encryption is on",
                store_step,
                store_probe,
            ),
            StepSpec("catalog", "Record the backup in the catalog", catalog_step),
        ] + (
            [StepSpec("retention", "Start the retention run (`prune`) for this cluster", retention_step)]
            if self._retention(context.cluster)
            else []
        )

    def summary(self, context: StepContext) -> str:
        taken = context.results.get("snapshot", {})
        number = context.results.get("catalog", {}).get("backup_id", "?")
        return (
            f"backup #{number} ({taken.get('snapshot', '?')} from {taken.get('host', '?')}) stored and "
            "verified"
        )
