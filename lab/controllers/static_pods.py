"""The static pod operators' revision logic (etcd, kube-apiserver, kube-controller-manager, scheduler).

A new revision is made when ``spec.forceRedeploymentReason`` changes, or when the operand's inputs change
(for etcd and kube-apiserver: the set of masters and their certificates). It is rolled out one node at a
time — the installer writes the revision folder and the manifest, and the next node follows once that
node's pod is ready on the new revision. ``status.nodeStatuses`` records what each node runs, and only a
newer ``latestAvailableRevision`` makes the installer act on a node: a manifest an admin moved away
stays away (the seed relies on that) until the next revision.

``NodeInstallerProgressing`` reads as in the seed: ``AllNodesAtLatestRevision`` / "3 nodes are at
revision 7", or "2 nodes are at revision 3; 1 nodes are at revision 4" during a rollout.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from lab.controllers import objects
from lab.controllers.kubelets import node_is_ready
from lab.controllers.seed import stamp
from lab.kube.errors import ApiError, NotFound
from lab.manifests import OPERANDS
from lab.pki import KeyPair
from lab.revisions import install_apiserver, install_etcd, install_plain
from lab.topology import ETCD_NAMESPACE, HostSpec

if TYPE_CHECKING:
    from lab.supervisor import Supervisor

log = logging.getLogger(__name__)

OBSERVED_REASON = "lab.etcdops.io/observed-force-redeployment-reason"
OBSERVED_INPUTS = "lab.etcdops.io/revision-inputs"
NODE_ROLLOUT_TIMEOUT = 90.0


def progressing_condition(latest: int, node_revisions: dict[str, int], at: str) -> dict[str, str]:
    counts = Counter(node_revisions.values())
    if counts and set(counts) == {latest}:
        return objects.condition(
            "NodeInstallerProgressing",
            "False",
            "AllNodesAtLatestRevision",
            f"{counts[latest]} nodes are at revision {latest}",
            at,
        )
    parts = [f"{n} nodes are at revision {rev}" for rev, n in sorted(counts.items())]
    return objects.condition("NodeInstallerProgressing", "True", "NodeInstaller", "; ".join(parts), at)


def set_condition(conditions: list[dict[str, Any]], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Replace the condition of the same type, keeping its transition time when the status holds."""
    out = []
    replaced = False
    for cond in conditions:
        if cond.get("type") == new["type"]:
            if cond.get("status") == new["status"]:
                new = dict(new, lastTransitionTime=cond.get("lastTransitionTime", new["lastTransitionTime"]))
            out.append(new)
            replaced = True
        else:
            out.append(cond)
    if not replaced:
        out.append(new)
    return out


async def master_hosts(sup: Supervisor, *, ready_only: bool = True) -> list[HostSpec]:
    """Masters known to the API; with ``ready_only``, those with a Ready node and a powered host
    (where installers can run)."""
    nodes = (await sup.store().list("nodes", label_selector="node-role.kubernetes.io/master")).items
    names = {n["metadata"]["name"] for n in nodes if node_is_ready(n) or not ready_only}
    chosen = (r.spec for r in sup.state.hosts if (r.powered or not ready_only) and r.spec.node in names)
    return sorted(chosen, key=lambda h: h.ip)


async def node_secrets(sup: Supervisor) -> dict[str, dict[str, KeyPair]]:
    """Every node's etcd certificates, from the secrets in openshift-etcd (the source of truth)."""
    found: dict[str, dict[str, KeyPair]] = {}
    for secret in (await sup.store().list("secrets", ETCD_NAMESPACE)).items:
        name = secret["metadata"]["name"]
        for kind in ("etcd-serving-metrics", "etcd-serving", "etcd-peer"):
            if name.startswith(kind + "-"):
                found.setdefault(name[len(kind) + 1 :], {})[kind] = objects.secret_pair(secret)
                break
    return {node: pairs for node, pairs in found.items() if len(pairs) == 3}


def pod_ready_at(sup: Supervisor, node: str, operand: str, revision: int) -> bool:
    seen = sup.kubelet_reports.get(node)
    if seen is None:
        return False
    for pod in seen[1].get("items") or []:
        meta = pod.get("metadata") or {}
        if meta.get("name") != f"{operand}-{node}":
            continue
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        return (meta.get("labels") or {}).get("revision") == str(revision) and all(
            s.get("ready") for s in statuses
        )
    return False


class StaticPodOperator:
    def __init__(self, operand: str) -> None:
        self.operand = operand
        self.plural = objects.OPERATOR_RESOURCES[operand][0]
        self.waiting_since: dict[str, float] = {}

    def inputs(self, masters: list[HostSpec], certs: dict[str, dict[str, KeyPair]]) -> str:
        """What a revision of this operand is made from; a change makes a new revision."""
        if self.operand == "etcd":
            blob = "|".join(
                f"{h.node}:{hashlib.sha256(certs[h.node]['etcd-peer'].cert_pem).hexdigest()[:12]}"
                for h in masters
                if h.node in certs
            )
            return blob
        if self.operand == "kube-apiserver":
            return ",".join(h.ip for h in masters)
        return ""

    async def sync(self, sup: Supervisor) -> None:
        store = sup.store()
        try:
            obj = await store.get(self.plural, None, "cluster")
        except NotFound:
            return
        masters = await master_hosts(sup)
        if not masters:
            return  # no kubelet has registered yet: nothing to install on, nothing to report
        # Inputs come from the machines (the supervisor's hosts), not from the nodes that happen to have
        # registered yet: a revision must not follow a node's readiness flickering.
        every_master = sorted((r.spec for r in sup.state.hosts), key=lambda h: h.ip)
        annotations = obj["metadata"].get("annotations") or {}
        reason = (obj.get("spec") or {}).get("forceRedeploymentReason") or ""
        certs = await node_secrets(sup) if self.operand == "etcd" else {}
        if self.operand == "etcd" and not all(h.node in certs for h in every_master):
            return  # the cert signer has not made this node's secrets yet
        inputs = self.inputs(every_master, certs)
        status = obj.get("status") or {}
        latest = int(status.get("latestAvailableRevision") or 1)
        if (
            annotations.get(OBSERVED_REASON, "") != reason
            or annotations.get(OBSERVED_INPUTS, inputs) != inputs
        ):
            latest += 1
            log.info("%s: new revision %s (reason %r)", self.operand, latest, reason)

            def bump(o: dict[str, Any]) -> dict[str, Any]:
                o.setdefault("status", {})["latestAvailableRevision"] = latest
                return o

            await store.modify(self.plural, None, "cluster", bump, subresource="status")
        if annotations.get(OBSERVED_REASON) != reason or annotations.get(OBSERVED_INPUTS) != inputs:

            def observe(o: dict[str, Any]) -> dict[str, Any]:
                o["metadata"].setdefault("annotations", {}).update(
                    {OBSERVED_REASON: reason, OBSERVED_INPUTS: inputs}
                )
                return o

            await store.modify(self.plural, None, "cluster", observe)
        recorded = {
            s["nodeName"]: int(s.get("currentRevision") or 0) for s in status.get("nodeStatuses") or []
        }
        known = {n["metadata"]["name"] for n in (await store.list("nodes")).items}
        known |= {r.spec.node for r in sup.state.hosts}
        current = {node: rev for node, rev in recorded.items() if node in known}
        for host in masters:
            current.setdefault(host.node, 0)
        await self._roll(sup, masters, current, latest, certs)
        await self._write_status(sup, latest, current)

    async def _roll(
        self,
        sup: Supervisor,
        masters: list[HostSpec],
        current: dict[str, int],
        latest: int,
        certs: dict[str, dict[str, KeyPair]],
    ) -> None:
        """Advance the rollout by at most one node; ``current`` is updated in place."""
        for host in masters:
            if current.get(host.node) == latest:
                continue
            started = self.waiting_since.get(host.node)
            if started is None:
                await self._install(sup, host, latest, masters, certs)
                self.waiting_since[host.node] = time.monotonic()
                return
            if (
                pod_ready_at(sup, host.node, self.operand, latest)
                or time.monotonic() - started > NODE_ROLLOUT_TIMEOUT
            ):
                current[host.node] = latest
                del self.waiting_since[host.node]
                continue
            return

    async def _install(
        self,
        sup: Supervisor,
        host: HostSpec,
        revision: int,
        masters: list[HostSpec],
        certs: dict[str, dict[str, KeyPair]],
    ) -> None:
        log.info("installer: %s revision %s on %s", self.operand, revision, host.node)
        if self.operand == "etcd":
            members = await etcd_member_hosts(sup, masters)
            await asyncio.to_thread(
                install_etcd, sup.paths, sup.runtime, sup.creds, host, revision, members, certs
            )
        elif self.operand == "kube-apiserver":
            await asyncio.to_thread(
                install_apiserver, sup.paths, sup.runtime, sup.creds, host, revision, masters
            )
        else:
            await asyncio.to_thread(install_plain, sup.paths, host, self.operand, revision)

    async def _write_status(self, sup: Supervisor, latest: int, current: dict[str, int]) -> None:
        at = stamp()
        node_statuses = [{"nodeName": n, "currentRevision": r} for n, r in sorted(current.items())]
        cond = progressing_condition(latest, current, at)

        def update(o: dict[str, Any]) -> dict[str, Any]:
            st = o.setdefault("status", {})
            st["nodeStatuses"] = node_statuses
            st["conditions"] = set_condition(st.get("conditions") or [], cond)
            return o

        obj = await sup.store().get(self.plural, None, "cluster")
        st = obj.get("status") or {}
        old_cond: dict[str, Any] = next(
            (c for c in st.get("conditions") or [] if c.get("type") == cond["type"]), {}
        )
        if st.get("nodeStatuses") != node_statuses or old_cond.get("message") != cond["message"]:
            await sup.store().modify(self.plural, None, "cluster", update, subresource="status")
            await set_cluster_operator_progressing(sup, self.operand, cond["status"] == "True")


async def set_cluster_operator_progressing(sup: Supervisor, name: str, progressing: bool) -> None:
    at = stamp()

    def update(o: dict[str, Any]) -> dict[str, Any]:
        st = o.setdefault("status", {})
        st["conditions"] = set_condition(
            st.get("conditions") or [],
            objects.condition(
                "Progressing",
                "True" if progressing else "False",
                "AsExpected",
                "NodeInstallerProgressing" if progressing else "",
                at,
            ),
        )
        return o

    with contextlib.suppress(NotFound):
        await sup.store().modify("clusteroperators", None, name, update, subresource="status")


async def etcd_member_hosts(sup: Supervisor, masters: list[HostSpec]) -> list[HostSpec]:
    """Masters whose peer URL is in the member list (the endpoints a revision names); all masters
    when etcd cannot say."""
    try:
        members = await sup.access.etcd.member_list()
    except Exception:
        return masters
    urls = {u for m in members for u in m.peer_urls}
    chosen = [h for h in masters if h.peer_url in urls]
    return chosen or masters


async def static_pod_controller(sup: Supervisor) -> None:
    operators = [StaticPodOperator(op) for op in OPERANDS]
    while True:
        if sup.state.seeded:
            for operator in operators:
                try:
                    await operator.sync(sup)
                except ApiError as exc:
                    log.debug("%s operator waits for etcd: %s", operator.operand, exc)
        await asyncio.sleep(1.0)
