"""Fills a new lab's etcd with the cluster's objects once etcd has quorum, then preloads ``--db-mb``.

Creation is idempotent (an object that exists is left alone), so a supervisor killed half-way simply
seeds the rest when it starts again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import secrets
import uuid
from typing import TYPE_CHECKING, Any

from lab.controllers import objects
from lab.kube.errors import AlreadyExists, ApiError
from lab.manifests import OPERANDS
from lab.topology import ETCD_NAMESPACE, MACHINE_NAMESPACE

if TYPE_CHECKING:
    from lab.supervisor import Supervisor

log = logging.getLogger(__name__)

PRELOAD_NAMESPACE = "lab-load"
INSTALLED_AGO = dt.timedelta(days=3)
PRELOAD_VALUE_BYTES = 24 * 1024
PRELOAD_BATCH = 40  # one etcd transaction stays under etcd's 1.5 MiB request limit


def stamp(at: dt.datetime | None = None) -> str:
    return (at or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _create(sup: Supervisor, resource: str, namespace: str | None, obj: dict[str, Any]) -> None:
    with contextlib.suppress(AlreadyExists):
        await sup.store().create(resource, namespace, obj, keep_status=True)


async def seed_objects(sup: Supervisor) -> None:
    at = stamp()
    for name in objects.NAMESPACES:
        await _create(sup, "namespaces", None, objects.namespace(name))
    for record in sup.state.hosts:
        host = record.spec
        machine = objects.machine(host, record.instance_id, state="running", phase="Running", at=at)
        machine["metadata"]["name"] = record.machine_name
        await _create(sup, "machines", MACHINE_NAMESPACE, machine)
        for kind, pair in sup.creds.node_certs(host.node).items():
            await _create(
                sup, "secrets", ETCD_NAMESPACE, objects.tls_secret(f"{kind}-{host.node}", pair, host.node)
            )
    nodes = [r.spec.node for r in sup.state.hosts]
    for operand in OPERANDS:
        plural = objects.OPERATOR_RESOURCES[operand][0]
        await _create(sup, plural, None, objects.operator_object(operand, 1, nodes, at))
        await _create(sup, "clusteroperators", None, objects.cluster_operator(operand, at))
    for name in ("machine-api", "authentication", "openshift-apiserver"):
        await _create(sup, "clusteroperators", None, objects.cluster_operator(name, at))
    installed = stamp(dt.datetime.now(dt.UTC) - INSTALLED_AGO)
    await _create(sup, "clusterversions", None, objects.cluster_version(str(uuid.uuid4()), at, installed))
    await _create(sup, "proxies", None, objects.proxy())
    await _create(sup, "apiservers", None, objects.apiserver_config())
    await _create(
        sup,
        "serviceaccounts",
        "openshift-machine-config-operator",
        objects.service_account("node-bootstrapper", "openshift-machine-config-operator"),
    )


async def preload(sup: Supervisor, megabytes: int) -> None:
    """About ``megabytes`` MB of ConfigMaps in namespace lab-load, written straight to etcd in batches."""
    await _create(sup, "namespaces", None, objects.namespace(PRELOAD_NAMESPACE))
    store = sup.store()
    count = megabytes * 1024 * 1024 // PRELOAD_VALUE_BYTES
    filler = secrets.token_hex(PRELOAD_VALUE_BYTES // 2)
    at = stamp()
    written = 0
    while written < count:
        batch = []
        for i in range(written, min(written + PRELOAD_BATCH, count)):
            name = f"load-{i:07d}"
            cm = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": name,
                    "namespace": PRELOAD_NAMESPACE,
                    "uid": str(uuid.uuid4()),
                    "creationTimestamp": at,
                },
                "data": {"payload": filler},
            }
            batch.append((store.key("configmaps", PRELOAD_NAMESPACE, name), json.dumps(cm).encode()))
        await store.etcd.put_many(batch)
        written += len(batch)
    log.info("preloaded %s ConfigMaps (%s MB)", written, megabytes)


async def seed_controller(sup: Supervisor) -> None:
    while not sup.state.seeded:
        try:
            await sup.store().ping()
            await seed_objects(sup)
            if sup.state.db_mb > 0:
                await preload(sup, sup.state.db_mb)
        except ApiError as exc:
            log.info("waiting for etcd to seed the cluster: %s", exc)
            await asyncio.sleep(0.5)
            continue
        async with sup.state_lock:
            sup.state.seeded = True
            sup.save_state()
        log.info("cluster objects seeded")
    await sup.stop.wait()
