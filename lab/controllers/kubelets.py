"""What the kubelets and the node lifecycle controller do for the API: nodes, mirror pods, kubelet CSRs.

Every second it reads each host's kubelet (``/pods``). A kubelet that answers and holds a valid client
certificate "posts" its node as Ready and its static pods as mirror pods. A kubelet that does not answer
for a few seconds (machine stopped) leaves its node ``Unknown`` (NotReady) with the
``node.kubernetes.io/unreachable`` taints. A kubelet whose client certificate has expired cannot post
either; it asks for a new one with a CSR as the node-bootstrapper, and picks up the certificate once the
CSR is approved and signed — the flow of the seed's chapter 3.4.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

import aiohttp

from lab.controllers import objects
from lab.controllers.seed import stamp
from lab.credentials import Credentials
from lab.kube.errors import AlreadyExists, ApiError, NotFound
from lab.paths import HostPaths
from lab.pki import KeyPair, is_expired, issue, new_csr
from lab.topology import HostSpec

if TYPE_CHECKING:
    from lab.supervisor import Supervisor

log = logging.getLogger(__name__)

POLL_INTERVAL = 1.0
NODE_GRACE = 4.0
HEARTBEAT_EVERY = 10.0
KUBELET_PKI = "/var/lib/kubelet/pki"
CLIENT_CERT = f"{KUBELET_PKI}/kubelet-client-current.pem"
PENDING_KEY = f"{KUBELET_PKI}/kubelet-client.key.pending"
PENDING_CSR_NAME = f"{KUBELET_PKI}/kubelet-client.csr-name"
KUBELET_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
UNREACHABLE_TAINTS = [
    {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
]


def write_kubelet_cert(creds: Credentials, hp: HostPaths, host: HostSpec, *, expired: bool = False) -> None:
    """Give a host's kubelet a client certificate from the kubelet signer (expired on purpose if asked)."""
    import datetime as dt

    kwargs: dict[str, Any] = {}
    if expired:
        start = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
        kwargs = {"not_before": start, "not_after": start + dt.timedelta(days=30)}
    pair = issue(
        creds.kubelet_signer, f"system:node:{host.node}", organization="system:nodes", server=False, **kwargs
    )
    path = hp.inside(CLIENT_CERT)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pair.cert_pem + pair.key_pem)
    path.chmod(0o600)


def kubelet_cert_valid(hp: HostPaths) -> bool:
    try:
        return not is_expired(hp.inside(CLIENT_CERT).read_bytes())
    except (OSError, ValueError):
        return False


async def poll_kubelets(sup: Supervisor, http: aiohttp.ClientSession) -> None:
    async def one(host: HostSpec) -> None:
        try:
            async with http.get(f"{host.kubelet_url}/pods") as resp:
                if resp.status == 200:
                    sup.kubelet_reports[host.node] = (time.monotonic(), await resp.json())
        except (aiohttp.ClientError, TimeoutError, ValueError):
            pass

    await asyncio.gather(*(one(r.spec) for r in sup.state.hosts if r.powered))


def _ready_condition(node: dict[str, Any]) -> dict[str, Any]:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return dict(cond)
    return {}


def node_is_ready(node: dict[str, Any]) -> bool:
    return _ready_condition(node).get("status") == "True"


class NodeLifecycle:
    def __init__(self) -> None:
        self.last_heartbeat: dict[str, float] = {}

    async def sync(self, sup: Supervisor) -> None:
        store = sup.store()
        nodes = {n["metadata"]["name"]: n for n in (await store.list("nodes")).items}
        ready: set[str] = set()
        pods_ready: set[str] = set()
        now = time.monotonic()
        for record in sup.state.hosts:
            host = record.spec
            hp = sup.paths.host(host.name)
            seen = sup.kubelet_reports.get(host.node)
            alive = record.powered and seen is not None and now - seen[0] < NODE_GRACE
            cert_ok = kubelet_cert_valid(hp)
            if alive and not cert_ok:
                await self._renew_client_cert(sup, host, hp)
                cert_ok = kubelet_cert_valid(hp)
            posting = alive and cert_ok
            node = nodes.get(host.node)
            if node is None:
                if not posting:
                    continue
                try:
                    node = await store.create("nodes", None, objects.node(host, stamp()), keep_status=True)
                except AlreadyExists:
                    node = await store.get("nodes", None, host.node)
                self.last_heartbeat[host.node] = now
            if posting:
                ready.add(host.node)
                stale = now - self.last_heartbeat.get(host.node, 0) > HEARTBEAT_EVERY
                if not node_is_ready(node) or stale or _has_unreachable(node):
                    await self._post_ready(sup, host.node)
                    self.last_heartbeat[host.node] = now
                assert seen is not None
                reported = seen[1].get("items") or []
                await sync_mirror_pods(sup, host.node, reported)
                if reported and all(_all_ready(p) for p in reported):
                    pods_ready.add(host.node)
            elif node_is_ready(node) or not _has_unreachable(node):
                await self._post_unknown(sup, host.node)
        sup.ready_nodes = ready
        sup.pods_ready_nodes = pods_ready

    @staticmethod
    async def _post_ready(sup: Supervisor, name: str) -> None:
        at = stamp()

        def mark(node: dict[str, Any]) -> dict[str, Any]:
            cond = objects.condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", at)
            cond["lastHeartbeatTime"] = at
            node.setdefault("status", {})["conditions"] = [cond]
            return node

        def untaint(node: dict[str, Any]) -> dict[str, Any]:
            spec = node.setdefault("spec", {})
            spec["taints"] = [
                t for t in spec.get("taints") or [] if t.get("key") != "node.kubernetes.io/unreachable"
            ]
            return node

        await sup.store().modify("nodes", None, name, mark, subresource="status")
        await sup.store().modify("nodes", None, name, untaint)

    @staticmethod
    async def _post_unknown(sup: Supervisor, name: str) -> None:
        at = stamp()

        def mark(node: dict[str, Any]) -> dict[str, Any]:
            cond = objects.condition(
                "Ready", "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.", at
            )
            node.setdefault("status", {})["conditions"] = [cond]
            return node

        def taint(node: dict[str, Any]) -> dict[str, Any]:
            spec = node.setdefault("spec", {})
            kept = [t for t in spec.get("taints") or [] if t.get("key") != "node.kubernetes.io/unreachable"]
            spec["taints"] = kept + [dict(t, timeAdded=at) for t in UNREACHABLE_TAINTS]
            return node

        await sup.store().modify("nodes", None, name, mark, subresource="status")
        await sup.store().modify("nodes", None, name, taint)
        log.info("node %s is not posting status: NotReady, unreachable", name)

    @staticmethod
    async def _renew_client_cert(sup: Supervisor, host: HostSpec, hp: HostPaths) -> None:
        """The kubelet's bootstrap: a CSR as the node-bootstrapper, then the issued certificate."""
        name_file, key_file = hp.inside(PENDING_CSR_NAME), hp.inside(PENDING_KEY)
        store = sup.store()
        if name_file.exists() and key_file.exists():
            try:
                csr = await store.get("certificatesigningrequests", None, name_file.read_text().strip())
            except NotFound:
                csr = None
            if csr is not None:
                issued = (csr.get("status") or {}).get("certificate")
                if issued:
                    cert = base64.b64decode(issued)
                    hp.inside(CLIENT_CERT).write_bytes(cert + key_file.read_bytes())
                    name_file.unlink()
                    key_file.unlink()
                    log.info("kubelet of %s got its new client certificate", host.node)
                return
        request, key = new_csr(f"system:node:{host.node}", "system:nodes")
        user, groups = objects.bootstrapper_identity()
        csr_name = f"csr-{secrets.token_hex(3)[:5]}"
        body = {
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": csr_name},
            "spec": {
                "request": base64.b64encode(request).decode(),
                "signerName": KUBELET_SIGNER,
                "usages": ["digital signature", "key encipherment", "client auth"],
                "username": user,
                "groups": groups,
            },
        }
        await store.create("certificatesigningrequests", None, body)
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_bytes(key)
        key_file.chmod(0o600)
        name_file.write_text(csr_name)
        log.info("kubelet of %s has an expired client certificate: requested %s", host.node, csr_name)


def _all_ready(pod: dict[str, Any]) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return bool(statuses) and all(s.get("ready") for s in statuses)


def _has_unreachable(node: dict[str, Any]) -> bool:
    taints = (node.get("spec") or {}).get("taints") or []
    return any(t.get("key") == "node.kubernetes.io/unreachable" for t in taints)


async def sync_mirror_pods(sup: Supervisor, node: str, reported: list[dict[str, Any]]) -> None:
    """Make the node's mirror pods in the API equal to what its kubelet runs."""
    store = sup.store()
    existing = {
        (p["metadata"]["namespace"], p["metadata"]["name"]): p
        for p in (await store.list("pods", None, field_selector=f"spec.nodeName={node}")).items
    }
    wanted = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in reported}
    for key, pod in existing.items():
        if key not in wanted or _hash(pod) != _hash(wanted[key]):
            with contextlib.suppress(NotFound):
                await store.delete("pods", key[0], key[1])
    for key, pod in wanted.items():
        current = existing.get(key)
        if current is None or _hash(current) != _hash(pod):
            with contextlib.suppress(AlreadyExists, NotFound):
                await store.create("pods", key[0], pod, keep_status=True)
        elif current.get("status") != pod.get("status"):
            current["status"] = pod["status"]
            await store.update_status("pods", key[0], key[1], current)


def _hash(pod: dict[str, Any]) -> str:
    return str(((pod.get("metadata") or {}).get("annotations") or {}).get("kubernetes.io/config.hash", ""))


async def csr_signer(sup: Supervisor) -> None:
    """Signs approved kubelet CSRs with the kubelet signer, as kube-controller-manager's signer does."""
    while True:
        if sup.state.seeded:
            with contextlib.suppress(ApiError):
                for csr in (await sup.store().list("certificatesigningrequests")).items:
                    await _sign_if_approved(sup, csr)
        await asyncio.sleep(POLL_INTERVAL)


async def _sign_if_approved(sup: Supervisor, csr: dict[str, Any]) -> None:
    from lab.pki import sign_csr

    status = csr.get("status") or {}
    spec = csr.get("spec") or {}
    approved = any(
        c.get("type") == "Approved" and c.get("status", "True") == "True"
        for c in status.get("conditions") or []
    )
    if not approved or status.get("certificate"):
        return
    if spec.get("signerName") not in (KUBELET_SIGNER, "kubernetes.io/kubelet-serving"):
        return
    signer: KeyPair = sup.creds.kubelet_signer
    cert = sign_csr(
        signer, base64.b64decode(spec["request"]), client=spec.get("signerName") == KUBELET_SIGNER
    )
    csr["status"] = dict(status, certificate=base64.b64encode(cert).decode())
    await sup.store().update_status("certificatesigningrequests", None, csr["metadata"]["name"], csr)


async def kubelet_controller(sup: Supervisor) -> None:
    lifecycle = NodeLifecycle()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.5)) as http:
        while True:
            await poll_kubelets(sup, http)
            if sup.state.seeded:
                try:
                    await lifecycle.sync(sup)
                except ApiError as exc:
                    log.debug("cannot reach etcd to post node status: %s", exc)
            await asyncio.sleep(POLL_INTERVAL)
