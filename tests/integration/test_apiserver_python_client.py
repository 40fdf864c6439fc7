"""The official ``kubernetes`` Python client against the server: CRUD, subresources, watch, exec."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client import ApiClient, ApiException
from kubernetes.stream import stream

from lab.kube.store import Store
from tests.integration.conftest import MASTERS, Env, write_kubeconfig


@pytest.fixture(scope="module")
def api(seeded: Env) -> Iterator[ApiClient]:
    path = write_kubeconfig(seeded.workdir / "kubeconfig-python", seeded.api, "bot-token-9876543210")
    api_client = config.new_client_from_config(config_file=str(path))
    try:
        yield api_client
    finally:
        api_client.close()


def _message(exc: pytest.ExceptionInfo[ApiException]) -> str:
    return str(json.loads(exc.value.body)["message"])


def _namespace(api: ApiClient, name: str) -> None:
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})


def test_core_crud_selectors_and_conflicts(api: ApiClient) -> None:
    v1 = client.CoreV1Api(api)
    _namespace(api, "py-crud")
    for name, tier in (("a", "web"), ("b", "db"), ("c", "web")):
        v1.create_namespaced_config_map(
            "py-crud", {"metadata": {"name": name, "labels": {"tier": tier}}, "data": {"k": name}}
        )
    web = v1.list_namespaced_config_map("py-crud", label_selector="tier=web")
    assert [c.metadata.name for c in web.items] == ["a", "c"]
    assert web.kind == "ConfigMapList" and int(web.metadata.resource_version) > 0
    assert [
        c.metadata.name
        for c in v1.list_namespaced_config_map("py-crud", label_selector="tier notin (web)").items
    ] == ["b"]
    assert [
        c.metadata.name
        for c in v1.list_namespaced_config_map("py-crud", field_selector="metadata.name=b").items
    ] == ["b"]
    everywhere = v1.list_config_map_for_all_namespaces(label_selector="tier")
    assert {(c.metadata.namespace, c.metadata.name) for c in everywhere.items} >= {
        ("py-crud", "a"),
        ("py-crud", "b"),
    }

    with pytest.raises(ApiException) as exists:
        v1.create_namespaced_config_map("py-crud", {"metadata": {"name": "a"}})
    assert exists.value.status == 409 and _message(exists) == 'configmaps "a" already exists'

    current = v1.read_namespaced_config_map("a", "py-crud")
    patched = v1.patch_namespaced_config_map("a", "py-crud", {"data": {"k": "patched"}})
    assert patched.data == {"k": "patched"}
    current.data = {"k": "stale"}
    with pytest.raises(ApiException) as stale:
        v1.replace_namespaced_config_map("a", "py-crud", current)
    assert stale.value.status == 409
    assert "the object has been modified" in _message(stale)

    v1.delete_namespaced_config_map("a", "py-crud")
    with pytest.raises(ApiException) as gone:
        v1.read_namespaced_config_map("a", "py-crud")
    assert gone.value.status == 404 and _message(gone) == 'configmaps "a" not found'

    with pytest.raises(ApiException) as no_ns:
        v1.create_namespaced_config_map("no-such-ns", {"metadata": {"name": "x"}})
    assert no_ns.value.status == 404 and _message(no_ns) == 'namespaces "no-such-ns" not found'


def test_pod_status_subresource(api: ApiClient) -> None:
    v1 = client.CoreV1Api(api)
    _namespace(api, "py-status")
    pod = {
        "metadata": {"name": "p"},
        "spec": {"nodeName": MASTERS[1][0], "containers": [{"name": "c", "image": "img"}]},
        "status": {"phase": "Running"},
    }
    created = v1.create_namespaced_pod("py-status", pod)
    assert created.status.phase == "Pending"  # a new pod's status is the server's, not the client's
    assert created.metadata.generation == 1 and created.metadata.uid

    created.status.phase = "Failed"
    created.metadata.labels = {"x": "y"}
    replaced = v1.replace_namespaced_pod("p", "py-status", created)
    assert replaced.status.phase == "Pending" and replaced.metadata.labels == {"x": "y"}
    assert replaced.metadata.generation == 1

    status = v1.patch_namespaced_pod_status(
        "p", "py-status", {"status": {"phase": "Running", "podIP": "10.1.1.1"}}
    )
    assert (status.status.phase, status.status.pod_ip) == ("Running", "10.1.1.1")
    assert status.metadata.labels == {"x": "y"} and status.metadata.generation == 1

    changed = v1.patch_namespaced_pod("p", "py-status", {"spec": {"activeDeadlineSeconds": 30}})
    assert changed.metadata.generation == 2 and changed.status.phase == "Running"

    masters = v1.list_node(label_selector="node-role.kubernetes.io/master")
    ready = {
        n.metadata.name: [c.status for c in n.status.conditions if c.type == "Ready"] for n in masters.items
    }
    assert ready[MASTERS[0][0]] == ["Unknown"] and ready[MASTERS[1][0]] == ["True"]
    on_node = v1.list_pod_for_all_namespaces(
        field_selector=f"spec.nodeName={MASTERS[1][0]},status.phase=Running"
    )
    assert ("py-status", "p") in {(p.metadata.namespace, p.metadata.name) for p in on_node.items}


def test_custom_objects(api: ApiClient) -> None:
    co = client.CustomObjectsApi(api)
    etcd = co.get_cluster_custom_object("operator.openshift.io", "v1", "etcds", "cluster")
    assert etcd["kind"] == "Etcd" and etcd["apiVersion"] == "operator.openshift.io/v1"
    generation = etcd["metadata"]["generation"]
    patched = co.patch_cluster_custom_object(
        "operator.openshift.io", "v1", "etcds", "cluster", {"spec": {"forceRedeploymentReason": "python"}}
    )
    assert patched["metadata"]["generation"] == generation + 1
    status = co.patch_cluster_custom_object_status(
        "operator.openshift.io", "v1", "etcds", "cluster", {"status": {"latestAvailableRevision": 4}}
    )
    assert status["status"]["latestAvailableRevision"] == 4
    assert status["metadata"]["generation"] == generation + 1
    assert status["spec"]["forceRedeploymentReason"] == "python"

    masters = co.list_namespaced_custom_object(
        "machine.openshift.io",
        "v1beta1",
        "openshift-machine-api",
        "machines",
        label_selector="machine.openshift.io/cluster-api-machine-role=master",
    )
    assert masters["kind"] == "MachineList"
    assert all(m["kind"] == "Machine" for m in masters["items"]) and masters["items"]
    everywhere = co.list_cluster_custom_object("machine.openshift.io", "v1beta1", "machines")
    assert len(everywhere["items"]) == len(masters["items"])


def test_certificates_api_approval(api: ApiClient, seeded: Env) -> None:
    from tests.integration.test_apiserver_kubectl import _csr_pem

    certs = client.CertificatesV1Api(api)
    created = certs.create_certificate_signing_request(
        {
            "metadata": {"name": "node-csr-python"},
            "spec": {
                "request": _csr_pem("system:node:python"),
                "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                "usages": ["client auth"],
            },
        }
    )
    assert created.spec.username == "system:serviceaccount:etcdops:bot"
    assert created.status is None or not created.status.conditions
    created.status = client.V1CertificateSigningRequestStatus(
        conditions=[
            client.V1CertificateSigningRequestCondition(
                type="Approved", status="True", reason="EtcdOpsApprove", message="approved by the bot"
            )
        ]
    )
    approved = certs.replace_certificate_signing_request_approval("node-csr-python", created)
    assert [(c.type, c.reason) for c in approved.status.conditions] == [("Approved", "EtcdOpsApprove")]
    assert approved.spec.request == created.spec.request
    listed = certs.list_certificate_signing_request(
        field_selector="spec.signerName=kubernetes.io/kube-apiserver-client-kubelet"
    )
    assert "node-csr-python" in [c.metadata.name for c in listed.items]


def test_watch_stream_replays_changes(api: ApiClient) -> None:
    v1 = client.CoreV1Api(api)
    _namespace(api, "py-watch")
    start = v1.list_namespaced_config_map("py-watch").metadata.resource_version
    v1.create_namespaced_config_map("py-watch", {"metadata": {"name": "w", "labels": {"keep": "yes"}}})
    v1.patch_namespaced_config_map("w", "py-watch", {"data": {"a": "1"}})
    v1.patch_namespaced_config_map("w", "py-watch", {"metadata": {"labels": {"keep": "no"}}})
    v1.delete_namespaced_config_map("w", "py-watch")

    events = _collect(v1.list_namespaced_config_map, "py-watch", 4, resource_version=start, timeout_seconds=5)
    assert [(e["type"], e["object"].metadata.name, e["object"].data) for e in events] == [
        ("ADDED", "w", None),
        ("MODIFIED", "w", {"a": "1"}),
        ("MODIFIED", "w", {"a": "1"}),
        ("DELETED", "w", {"a": "1"}),
    ]
    versions = [int(e["object"].metadata.resource_version) for e in events]
    assert versions == sorted(versions) and len(set(versions)) == 4
    selected = _collect(
        v1.list_namespaced_config_map,
        "py-watch",
        3,
        resource_version=start,
        label_selector="keep=yes",
        timeout_seconds=5,
    )
    assert [e["type"] for e in selected] == [
        "ADDED",
        "MODIFIED",
        "DELETED",
    ]  # leaving the selection reads as DELETED

    v1.create_namespaced_config_map("py-watch", {"metadata": {"name": "now"}})
    initial = _collect(v1.list_namespaced_config_map, "py-watch", 1, timeout_seconds=5)
    assert [(e["type"], e["object"].metadata.name) for e in initial] == [("ADDED", "now")]
    ended = _collect(v1.list_namespaced_config_map, "py-watch", 99, resource_version=start, timeout_seconds=1)
    assert len(ended) == 5  # the server ends the stream at timeoutSeconds


def _collect(list_fn: Any, namespace: str, count: int, **kwargs: Any) -> list[dict[str, Any]]:
    """The first ``count`` events of a watch (stopping early, which closes the connection)."""
    w = watch.Watch()
    events = []
    for event in w.stream(list_fn, namespace, **kwargs):
        events.append(event)
        if len(events) == count:
            w.stop()
    return events


def _exec(v1: client.CoreV1Api, pod: str, command: list[str], timeout: float = 8) -> Any:
    """``stream()`` without preloading, so the socket can be shut (websocket-client leaves it open
    after a server-side close, which pytest would report as an unclosed-socket warning)."""
    resp = stream(
        v1.connect_get_namespaced_pod_exec,
        pod,
        "openshift-etcd",
        command=command,
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    resp.run_forever(timeout=timeout)
    resp.sock.shutdown()
    return resp


def test_stream_exec(api: ApiClient, seeded: Env) -> None:
    v1 = client.CoreV1Api(api)
    pod = f"etcd-{MASTERS[2][0]}"
    resp = _exec(v1, pod, ["etcdctl", "endpoint", "health"])
    assert resp.read_stdout() == f"ran etcdctl endpoint health in openshift-etcd/{pod}/etcdctl\n"
    assert resp.returncode == 0
    assert seeded.kubelet_calls[-1]["protocol"] == "v5.channel.k8s.io"

    failed = _exec(v1, pod, ["false"])
    assert failed.read_stderr() == "failing\n"
    assert failed.returncode == 1


def test_exec_when_the_kubelet_is_unreachable(api: ApiClient, seeded: Env) -> None:
    async def seed(store: Store) -> None:
        await store.create(
            "nodes",
            None,
            {
                "metadata": {"name": "gone"},
                "status": {"addresses": [{"type": "InternalIP", "address": "127.0.3.4"}]},
            },
            keep_status=True,
        )
        await store.create(
            "pods",
            "openshift-etcd",
            {"metadata": {"name": "on-gone"}, "spec": {"nodeName": "gone", "containers": [{"name": "c"}]}},
        )

    seeded.store(seed)
    resp = _exec(client.CoreV1Api(api), "on-gone", ["true"])
    error = json.loads(resp.read_channel(3))
    assert error["status"] == "Failure" and "error dialing backend" in error["message"]
    failed = seeded.kubectl("exec", "-n", "openshift-etcd", "on-gone", "--", "true", check=False)
    assert failed.returncode == 1 and "error dialing backend" in failed.stderr


def test_secret_data_roundtrip(api: ApiClient) -> None:
    v1 = client.CoreV1Api(api)
    _namespace(api, "py-secret")
    v1.create_namespaced_secret(
        "py-secret",
        {
            "metadata": {"name": "s"},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": base64.b64encode(b"x").decode()},
        },
    )
    secret = v1.read_namespaced_secret("s", "py-secret")
    assert secret.type == "kubernetes.io/tls" and base64.b64decode(secret.data["tls.crt"]) == b"x"
