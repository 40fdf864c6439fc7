"""The machine API and the cloud behind it: Machine objects and lab hosts kept in step.

- A Machine's ``providerStatus.instanceState`` (and the ``machine.openshift.io/instance-state``
  annotation that ``oc get machines -o wide`` shows as STATE) says whether its host is powered.
- A new master Machine (``oc apply -f new-master-machine.yaml``) gets a new host at the next free
  address: ``Provisioning`` with a providerID, then ``Running`` once its node is Ready; the etcd
  operator then adds it to etcd.
- Deleting a Machine powers its host off for good and removes the host and its Node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import shutil
from typing import TYPE_CHECKING, Any

from lab.controllers import objects
from lab.controllers.kubelets import write_kubelet_cert
from lab.controllers.seed import stamp
from lab.hostsetup import forget_known_host, provision_host
from lab.kube.errors import ApiError, NotFound
from lab.state import HostRecord
from lab.topology import MACHINE_NAMESPACE, HostSpec, next_host

if TYPE_CHECKING:
    from lab.supervisor import Supervisor

log = logging.getLogger(__name__)

MASTER_SELECTOR = "machine.openshift.io/cluster-api-machine-role=master"
PROVISIONING_DELAY = 2.0


def _same_status(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def strip(status: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in status.items() if k != "lastUpdated"}

    pa = dict(a.get("providerStatus") or {})
    pb = dict(b.get("providerStatus") or {})
    pa.pop("conditions", None)
    pb.pop("conditions", None)
    return strip({**a, "providerStatus": pa}) == strip({**b, "providerStatus": pb})


async def create_host_for(sup: Supervisor, machine: dict[str, Any]) -> HostRecord:
    """Provision a host for a new Machine (the cloud creating an instance)."""
    name = machine["metadata"]["name"]
    existing = [r.spec for r in sup.state.hosts]
    spec = next_host(existing, set(sup.state.used_octets))
    wanted = re.search(r"-master-(\d+)$", name)
    if wanted and int(wanted.group(1)) not in {h.index for h in existing}:
        spec = HostSpec(index=int(wanted.group(1)), ip=spec.ip)
    record = HostRecord(
        index=spec.index, ip=spec.ip, instance_id=f"i-{secrets.token_hex(9)[:17]}", machine=name
    )
    await asyncio.to_thread(provision_host, sup.paths, sup.runtime, spec)
    await asyncio.to_thread(write_kubelet_cert, sup.creds, sup.paths.host(spec.name), spec)
    async with sup.state_lock:
        sup.state.hosts.append(record)
        sup.state.used_octets.append(int(spec.ip.rsplit(".", 1)[1]))
        sup.save_state()
    log.info("machine %s: new host %s at %s (node %s)", name, spec.name, spec.ip, spec.node)
    return record


async def destroy_host(sup: Supervisor, record: HostRecord) -> None:
    spec = record.spec
    await sup.hosts.forget(spec.name)
    async with sup.state_lock:
        sup.state.hosts = [r for r in sup.state.hosts if r.spec.name != spec.name]
        sup.save_state()
    sup.kubelet_reports.pop(spec.node, None)
    forget_known_host(sup.paths, spec.ip)
    await asyncio.to_thread(shutil.rmtree, sup.paths.host(spec.name).root, True)
    store = sup.store()
    for pod in (await store.list("pods", None, field_selector=f"spec.nodeName={spec.node}")).items:
        with contextlib.suppress(NotFound):
            await store.delete("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
    with contextlib.suppress(NotFound):
        await store.delete("nodes", None, spec.node)
    log.info("machine %s deleted: host %s (%s) is gone", record.machine_name, spec.name, spec.ip)


async def _power_on_after(sup: Supervisor, record: HostRecord, delay: float) -> None:
    """A new instance boots a little after it is created: the machine shows Provisioning meanwhile."""
    await asyncio.sleep(delay)
    await sup.hosts.power_on(record.spec)


async def reconcile(sup: Supervisor) -> None:
    store = sup.store()
    machines = {
        m["metadata"]["name"]: m
        for m in (await store.list("machines", MACHINE_NAMESPACE, label_selector=MASTER_SELECTOR)).items
    }
    nodes = {n["metadata"]["name"]: n for n in (await store.list("nodes")).items}
    for record in list(sup.state.hosts):
        if record.machine_name not in machines:
            await destroy_host(sup, record)
    known = {r.machine_name for r in sup.state.hosts}
    for name, machine in machines.items():
        if name not in known:
            record = await create_host_for(sup, machine)

            def provisioning(m: dict[str, Any], record: HostRecord = record) -> dict[str, Any]:
                m.setdefault("spec", {})["providerID"] = objects.provider_id(record.spec, record.instance_id)
                m["metadata"].setdefault("annotations", {})[objects.INSTANCE_STATE_ANNOTATION] = "pending"
                return m

            await store.modify("machines", MACHINE_NAMESPACE, name, provisioning)
            sup.background(_power_on_after(sup, record, PROVISIONING_DELAY))
    for record in sup.state.hosts:
        found = machines.get(record.machine_name)
        if found is None:
            continue
        machine = found
        spec = record.spec
        node = nodes.get(spec.node)
        running = record.powered
        phase = "Running" if node is not None else "Provisioning"
        node_uid = (node or {}).get("metadata", {}).get("uid", "")
        state = "running" if running else "stopped"
        desired = objects.machine_status(
            spec, record.instance_id, state=state, phase=phase, node_uid=node_uid, at=stamp()
        )
        current = machine.get("status") or {}
        annotation = (machine["metadata"].get("annotations") or {}).get(objects.INSTANCE_STATE_ANNOTATION)
        if not _same_status(current, desired):

            def set_status(m: dict[str, Any], desired: dict[str, Any] = desired) -> dict[str, Any]:
                m["status"] = desired
                return m

            await store.modify(
                "machines", MACHINE_NAMESPACE, record.machine_name, set_status, subresource="status"
            )
        if annotation != state:

            def annotate(m: dict[str, Any], state: str = state) -> dict[str, Any]:
                m["metadata"].setdefault("annotations", {})[objects.INSTANCE_STATE_ANNOTATION] = state
                return m

            await store.modify("machines", MACHINE_NAMESPACE, record.machine_name, annotate)


async def machine_controller(sup: Supervisor) -> None:
    while True:
        if sup.state.seeded:
            try:
                await reconcile(sup)
            except ApiError as exc:
                log.debug("machine API waits for etcd: %s", exc)
        await asyncio.sleep(1.0)
