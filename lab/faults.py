"""Faults on demand, each leaving the lab in the state the seed describes, and ``heal`` to undo them.

- ``stop-machine NODE``: the host is powered off; its machine shows ``stopped``, the node goes NotReady
  with the unreachable taints, and etcd reports the member unhealthy (seed 2.3, 2.4.1).
- ``crashloop NODE``: the member's database is damaged, so etcd exits at every start and the pod shows
  ``Error``/``CrashLoopBackOff`` with rising restarts (seed 2.3, 2.4.2). The damaged bytes are kept for
  ``heal``.
- ``lose-quorum``: two of three members crash-loop: the API goes down, the hosts stay reachable over SSH
  (seed 3.3's situation).
- ``delete-object KIND/NAME``: an administrator deletes something critical (seed 3.1).
- ``expire-kubelet-certs``: every kubelet's client certificate is expired: nodes go NotReady and file
  node-bootstrapper CSRs (seed 3.4).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING

import aiohttp

from lab.controllers.kubelets import CLIENT_CERT, PENDING_CSR_NAME, PENDING_KEY, write_kubelet_cert
from lab.kube.errors import ApiError
from lab.state import HostRecord

if TYPE_CHECKING:
    from lab.supervisor import Supervisor

ETCD_MANIFEST = "/etc/kubernetes/manifests/etcd-pod.yaml"
ETCD_DB = "/var/lib/etcd/member/snap/db"
POD_STOP_TIMEOUT = 20.0
DAMAGED_BYTES = 8192  # bbolt's two meta pages: with both gone the database cannot be opened


class FaultError(ValueError):
    """The fault cannot be applied as asked; the message says why and what to type instead."""


def find_host(sup: Supervisor, name: str) -> HostRecord:
    for record in sup.state.hosts:
        if name in (record.spec.node, record.spec.name, record.ip, record.machine_name):
            return record
    known = ", ".join(r.spec.node for r in sup.state.hosts)
    raise FaultError(f"no lab host is called {name!r}; use a node name: {known}")


async def _etcd_pod_gone(sup: Supervisor, record: HostRecord) -> None:
    deadline = time.monotonic() + POD_STOP_TIMEOUT
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.monotonic() < deadline:
            async with http.get(f"{record.spec.kubelet_url}/containers") as resp:
                names = {c["name"] for c in (await resp.json())["containers"]}
            if not names & {"etcd", "etcdctl", "etcd-metrics"}:
                return
            await asyncio.sleep(0.3)
    raise FaultError(f"the etcd pod of {record.spec.node} did not stop within {POD_STOP_TIMEOUT:.0f} s")


async def stop_machine(sup: Supervisor, name: str) -> str:
    record = find_host(sup, name)
    if not record.powered:
        raise FaultError(f"{record.spec.node} is already stopped; `etcdops lab heal` starts it again")
    await sup.hosts.power_off(record.spec.name)
    async with sup.state_lock:
        record.powered = False
        sup.state.faults[record.spec.node] = "stop-machine"
        sup.save_state()
    return f"machine {record.machine_name} ({record.spec.node}) stopped"


async def crashloop(sup: Supervisor, name: str) -> str:
    record = find_host(sup, name)
    if not record.powered:
        raise FaultError(f"{record.spec.node} is stopped; a crash loop needs a running machine")
    hp = sup.paths.host(record.spec.name)
    manifest, db = hp.inside(ETCD_MANIFEST), hp.inside(ETCD_DB)
    if not manifest.exists() or not db.exists():
        raise FaultError(f"{record.spec.node} runs no etcd member with data to damage")
    parked = hp.root / "crashloop-etcd-pod.yaml"
    os.replace(manifest, parked)
    await _etcd_pod_gone(sup, record)
    saved = hp.root / "crashloop-db-head"
    with db.open("r+b") as f:
        head = f.read(DAMAGED_BYTES)
        if not saved.exists():
            saved.write_bytes(head)
            # which file was damaged: a restore or a replacement puts a new database in its place later,
            # and healing must then leave that one alone
            (hp.root / "crashloop-db-inode").write_text(str(db.stat().st_ino))
        f.seek(0)
        f.write(b"\0" * len(head))
    os.replace(parked, manifest)
    async with sup.state_lock:
        sup.state.faults[record.spec.node] = "crashloop"
        sup.save_state()
    return f"etcd on {record.spec.node} now crash-loops (its database is damaged)"


async def lose_quorum(sup: Supervisor) -> str:
    running = [r for r in sup.state.hosts if r.powered and r.spec.node not in sup.state.faults]
    if len(running) < 2:
        raise FaultError("fewer than two healthy members are left; quorum is already lost")
    victims = running[-2:]
    for record in victims:
        await crashloop(sup, record.spec.node)
    return "quorum lost: etcd crash-loops on " + ", ".join(r.spec.node for r in victims)


async def delete_object(sup: Supervisor, ref: str, namespace: str | None) -> str:
    if "/" not in ref:
        raise FaultError(f"name the object as KIND/NAME (e.g. secret/etcd-client), not {ref!r}")
    kind, name = ref.split("/", 1)
    try:
        store = sup.store()
        resource = store.resource(kind)
        ns = namespace if resource.namespaced else None
        if resource.namespaced and not ns:
            raise FaultError(f"{resource.plural} are namespaced: add -n NAMESPACE")
        await store.delete(resource, ns, name)
    except ApiError as exc:
        raise FaultError(f"cannot delete {ref}: {exc}") from exc
    return f"deleted {resource.plural}/{name}" + (f" in {ns}" if ns else "")


async def expire_kubelet_certs(sup: Supervisor) -> str:
    for record in sup.state.hosts:
        await asyncio.to_thread(
            write_kubelet_cert, sup.creds, sup.paths.host(record.spec.name), record.spec, expired=True
        )
    async with sup.state_lock:
        sup.state.faults["kubelet-certs"] = "expired"
        sup.save_state()
    return "every kubelet's client certificate has expired; nodes will go NotReady and file CSRs"


async def heal(sup: Supervisor) -> list[str]:
    done = []
    for node, fault in list(sup.state.faults.items()):
        if fault == "stop-machine":
            record = next((r for r in sup.state.hosts if r.spec.node == node), None)
            if record is not None:
                async with sup.state_lock:
                    record.powered = True
                    sup.save_state()
                await sup.hosts.power_on(record.spec)
                done.append(f"started {node}")
        elif fault == "crashloop":
            done.append(await _undo_crashloop(sup, node))
        elif fault == "expired":
            for record in sup.state.hosts:
                hp = sup.paths.host(record.spec.name)
                for leftover in (PENDING_CSR_NAME, PENDING_KEY):
                    hp.inside(leftover).unlink(missing_ok=True)
                await asyncio.to_thread(write_kubelet_cert, sup.creds, hp, record.spec)
            done.append("renewed every kubelet's client certificate")
        async with sup.state_lock:
            sup.state.faults.pop(node, None)
            sup.save_state()
    return done or ["nothing to heal"]


async def _undo_crashloop(sup: Supervisor, node: str) -> str:
    record = next((r for r in sup.state.hosts if r.spec.node == node), None)
    if record is None:
        return f"{node} is gone; nothing to repair"
    hp = sup.paths.host(record.spec.name)
    saved, manifest, db = hp.root / "crashloop-db-head", hp.inside(ETCD_MANIFEST), hp.inside(ETCD_DB)
    inode = hp.root / "crashloop-db-inode"
    damaged = int(inode.read_text()) if inode.exists() else None
    if not saved.exists() or not db.exists() or (damaged is not None and db.stat().st_ino != damaged):
        saved.unlink(missing_ok=True)
        inode.unlink(missing_ok=True)
        return f"{node}: its damaged member is gone already (replaced or restored); nothing to repair"
    if manifest.exists():
        parked = hp.root / "crashloop-etcd-pod.yaml"
        os.replace(manifest, parked)
        await _etcd_pod_gone(sup, record)
        with db.open("r+b") as f:
            f.write(saved.read_bytes())
        os.replace(parked, manifest)
    else:
        with db.open("r+b") as f:
            f.write(saved.read_bytes())
    saved.unlink()
    inode.unlink(missing_ok=True)
    return f"repaired etcd's database on {node}"


__all__ = [
    "CLIENT_CERT",
    "FaultError",
    "crashloop",
    "delete_object",
    "expire_kubelet_certs",
    "heal",
    "lose_quorum",
    "stop_machine",
]
