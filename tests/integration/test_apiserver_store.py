"""The in-process Store API the lab controllers use, on real etcd (no HTTP)."""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest

from lab.etcdclient import EtcdClient
from lab.kube.errors import AlreadyExists, BadRequest, Conflict, Invalid, NotFound, Unavailable
from lab.kube.patch import PatchType
from lab.kube.store import Preconditions, Store
from tests.integration.conftest import Env


async def _namespace(store: Store, name: str) -> None:
    await store.create("namespaces", None, {"metadata": {"name": name}})


def test_create_fills_server_metadata(env: Env) -> None:
    async def run(store: Store) -> None:
        await _namespace(store, "st-create")
        with pytest.raises(NotFound, match='namespaces "st-missing" not found'):
            await store.create("configmaps", "st-missing", {"metadata": {"name": "x"}})
        made = await store.create(
            "ConfigMap",
            "st-create",
            {"metadata": {"generateName": "cm-", "resourceVersion": "5", "uid": "mine"}, "data": {"a": "b"}},
        )
        meta = made["metadata"]
        assert meta["name"].startswith("cm-") and len(meta["name"]) == 8
        assert meta["uid"] != "mine" and meta["generation"] == 1
        assert meta["creationTimestamp"].endswith("Z") and meta["namespace"] == "st-create"
        assert made["kind"] == "ConfigMap" and made["apiVersion"] == "v1"
        stored = await store.get("configmaps", "st-create", meta["name"])
        assert stored == made
        # the etcd key and value are what kube-apiserver would write
        kv = await store.etcd.get(f"/kubernetes.io/configmaps/st-create/{meta['name']}")
        assert kv is not None and kv.mod_revision == int(meta["resourceVersion"])
        assert "resourceVersion" not in json.loads(kv.value)["metadata"]
        with pytest.raises(AlreadyExists, match=f'configmaps "{meta["name"]}" already exists'):
            await store.create("configmaps", "st-create", {"metadata": {"name": meta["name"]}})
        with pytest.raises(Invalid):
            await store.create("configmaps", "st-create", {"metadata": {"name": "Not_Valid"}})
        with pytest.raises(BadRequest):
            await store.create("configmaps", "st-create", {"kind": "Secret", "metadata": {"name": "k"}})
        csr = await store.create("csr", None, {"metadata": {"name": "st-csr"}, "spec": {"request": "eA=="}})
        kv = await store.etcd.get("/kubernetes.io/certificatesigningrequests/st-csr")
        assert kv is not None and csr["kind"] == "CertificateSigningRequest"
        machine = await store.create(
            "machines.machine.openshift.io", "st-create", {"metadata": {"name": "m"}}
        )
        assert await store.etcd.get("/kubernetes.io/machine.openshift.io/machines/st-create/m") is not None
        assert machine["apiVersion"] == "machine.openshift.io/v1beta1"

    env.store(run)


def test_updates_conflicts_generation_and_status(env: Env) -> None:
    async def run(store: Store) -> None:
        await _namespace(store, "st-update")
        machine = await store.create(
            "machines",
            "st-update",
            {"metadata": {"name": "m"}, "spec": {"providerID": "a"}, "status": {"phase": "Running"}},
        )
        assert "status" not in machine  # dropped on create, like a CRD with a status subresource
        seeded = await store.create(
            "machines",
            "st-update",
            {"metadata": {"name": "s"}, "status": {"phase": "Running"}},
            keep_status=True,
        )
        assert seeded["status"] == {"phase": "Running"}

        labelled = await store.patch("machines", "st-update", "m", {"metadata": {"labels": {"a": "b"}}})
        assert labelled["metadata"]["generation"] == 1  # metadata is not desired state
        respec = await store.patch("machines", "st-update", "m", {"spec": {"providerID": "b"}})
        assert respec["metadata"]["generation"] == 2
        same = await store.patch("machines", "st-update", "m", {"spec": {"providerID": "b"}})
        assert same["metadata"]["resourceVersion"] == respec["metadata"]["resourceVersion"]  # no write

        stale = dict(machine)
        with pytest.raises(Conflict, match="the object has been modified"):
            await store.update("machines", "st-update", "m", stale)
        unconditional = {"metadata": {"name": "m", "labels": {"a": "b"}}, "spec": {"providerID": "c"}}
        updated = await store.update("machines", "st-update", "m", unconditional)
        assert updated["spec"] == {"providerID": "c"} and updated["metadata"]["generation"] == 3

        updated["status"] = {"phase": "Provisioned"}
        updated["spec"] = {"providerID": "ignored"}
        status = await store.update_status("machines", "st-update", "m", updated)
        assert status["status"] == {"phase": "Provisioned"} and status["spec"] == {"providerID": "c"}
        assert status["metadata"]["generation"] == 3
        main = await store.patch("machines", "st-update", "m", {"status": {"phase": "Ignored"}})
        assert main["status"] == {"phase": "Provisioned"}
        json_patched = await store.patch(
            "machines",
            "st-update",
            "m",
            [{"op": "replace", "path": "/status/phase", "value": "Running"}],
            patch_type=PatchType.JSON,
            subresource="status",
        )
        assert json_patched["status"]["phase"] == "Running"
        with pytest.raises(Invalid):
            await store.patch(
                "machines",
                "st-update",
                "m",
                [{"op": "test", "path": "/spec/providerID", "value": "zz"}],
                patch_type=PatchType.JSON,
            )
        with pytest.raises(Conflict):
            await store.patch(
                "machines", "st-update", "m", {"metadata": {"resourceVersion": "1"}, "spec": {"x": 1}}
            )

        modified = await store.modify(
            "machines", "st-update", "m", lambda obj: obj | {"spec": {"providerID": "d"}}
        )
        assert modified["spec"]["providerID"] == "d"
        dry = await store.patch("machines", "st-update", "m", {"spec": {"providerID": "dry"}}, dry_run=True)
        assert dry["spec"]["providerID"] == "dry"
        assert (await store.get("machines", "st-update", "m"))["spec"]["providerID"] == "d"

    env.store(run)


def test_concurrent_patches_all_land(env: Env) -> None:
    async def run(store: Store) -> None:
        await _namespace(store, "st-race")
        await store.create("configmaps", "st-race", {"metadata": {"name": "c"}, "data": {}})
        await asyncio.gather(
            *(store.patch("configmaps", "st-race", "c", {"data": {f"k{i}": str(i)}}) for i in range(12))
        )
        final = await store.get("configmaps", "st-race", "c")
        assert final["data"] == {f"k{i}": str(i) for i in range(12)}

    env.store(run)


def test_delete_finalizers_and_namespaces(env: Env) -> None:
    async def run(store: Store) -> None:
        await _namespace(store, "st-delete")
        held = await store.create(
            "machines",
            "st-delete",
            {"metadata": {"name": "held", "finalizers": ["machine.machine.openshift.io"]}},
        )
        with pytest.raises(Conflict, match="Precondition failed: UID"):
            await store.delete("machines", "st-delete", "held", preconditions=Preconditions(uid="other"))
        marked = await store.delete(
            "machines", "st-delete", "held", preconditions=Preconditions(uid=held["metadata"]["uid"])
        )
        assert marked["metadata"]["deletionTimestamp"]
        still = await store.get("machines", "st-delete", "held")
        assert still["metadata"]["deletionTimestamp"] == marked["metadata"]["deletionTimestamp"]
        await store.patch("machines", "st-delete", "held", {"metadata": {"finalizers": None}})
        with pytest.raises(NotFound, match=re.escape('machines.machine.openshift.io "held" not found')):
            await store.get("machines", "st-delete", "held")

        await store.create("secrets", "st-delete", {"metadata": {"name": "s"}})
        gone = await store.delete("secrets", "st-delete", "s")
        assert gone["metadata"]["name"] == "s"
        with pytest.raises(NotFound):
            await store.delete("secrets", "st-delete", "s")

        await store.create("configmaps", "st-delete", {"metadata": {"name": "c"}})
        await store.delete("namespaces", None, "st-delete")
        assert (await store.list("configmaps", "st-delete")).items == []
        with pytest.raises(NotFound):
            await store.get("namespaces", None, "st-delete")

    env.store(run)


def test_list_selectors(seeded: Env) -> None:
    async def run(store: Store) -> None:
        pods = await store.list(
            "pods", "openshift-etcd", field_selector="spec.nodeName=ip-10-0-154-204.ec2.internal"
        )
        assert [p["metadata"]["name"] for p in pods.items] == ["etcd-ip-10-0-154-204.ec2.internal"]
        assert int(pods.resource_version) >= int(pods.items[0]["metadata"]["resourceVersion"])
        listed = pods.to_dict()
        assert listed["kind"] == "PodList" and listed["items"][0]["kind"] == "Pod"
        masters = await store.list(
            "nodes", label_selector="node-role.kubernetes.io/master,!node-role.kubernetes.io/worker"
        )
        assert len(masters.items) == 3
        none = await store.list("nodes", label_selector="node-role.kubernetes.io/master in (x,y)")
        assert none.items == []
        named = await store.list(
            "machines", "openshift-machine-api", field_selector="metadata.name=clustername-8qw5l-master-0"
        )
        assert [m["metadata"]["name"] for m in named.items] == ["clustername-8qw5l-master-0"]
        with pytest.raises(BadRequest):
            await store.list("pods", None, label_selector="a in (b")

    seeded.store(run)


def test_watch_translates_etcd_events(env: Env) -> None:
    async def run(store: Store) -> list[tuple[str, str, str]]:
        await _namespace(store, "st-watch")
        start = (await store.list("pods", "st-watch")).resource_version
        pod = {"metadata": {"name": "p", "labels": {"app": "etcd"}}, "spec": {"containers": [{"name": "c"}]}}
        await store.create("pods", "st-watch", pod)
        await store.patch("pods", "st-watch", "p", {"metadata": {"labels": {"app": "other"}}})
        await store.patch("pods", "st-watch", "p", {"metadata": {"labels": {"app": "etcd"}}})
        await store.delete("pods", "st-watch", "p")
        seen: list[tuple[str, str, str]] = []
        events = store.watch("pods", "st-watch", resource_version=start, label_selector="app=etcd")
        async for event in events:
            seen.append(
                (
                    event.type,
                    event.object["metadata"]["labels"]["app"],
                    event.object["metadata"]["resourceVersion"],
                )
            )
            if len(seen) == 4:
                break
        await events.aclose()
        return seen

    seen = env.store(run)
    assert [(t, app) for t, app, _ in seen] == [
        ("ADDED", "etcd"),
        ("DELETED", "other"),
        ("ADDED", "etcd"),
        ("DELETED", "etcd"),
    ]
    versions = [int(rv) for _, _, rv in seen]
    assert versions == sorted(versions)


def test_unavailable_when_etcd_cannot_answer(tmp_path: object) -> None:
    async def run() -> float:
        # nothing listens on this port: every call fails over and then gives up
        async with EtcdClient(["http://127.0.3.3:9"], timeout=1.0) as etcd:
            store = Store(etcd)
            started = time.monotonic()
            with pytest.raises(Unavailable):
                await store.get("pods", "x", "y")
            with pytest.raises(Unavailable):
                await store.ping()
            return time.monotonic() - started

    assert asyncio.run(run()) < 2.5
