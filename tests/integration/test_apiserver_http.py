"""Raw HTTP behaviour of the server: discovery, health, content negotiation, error Status objects."""

from __future__ import annotations

from tests.integration.conftest import Env

AGGREGATED = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)


def test_health_and_version_need_no_token(env: Env) -> None:
    for path in ("/readyz", "/healthz", "/livez"):
        assert env.api.request(path, token=None) == (200, "ok")
    status, version = env.api.request("/version", token=None)
    assert status == 200 and version["gitVersion"].endswith("+openshift") and version["major"] == "1"
    assert env.api.request("/api", token=None)[0] == 401


def test_discovery_falls_back_from_aggregated(env: Env) -> None:
    status, api = env.api.request("/api", accept=AGGREGATED)
    assert status == 200 and api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    status, apis = env.api.request("/apis", accept=AGGREGATED)
    assert status == 200 and apis["kind"] == "APIGroupList"
    assert {g["name"] for g in apis["groups"]} >= {"machine.openshift.io", "operator.openshift.io"}
    status, group = env.api.request("/apis/config.openshift.io")
    assert status == 200 and group["preferredVersion"]["version"] == "v1"
    status, resources = env.api.request("/apis/operator.openshift.io/v1")
    assert status == 200 and "etcds/status" in [r["name"] for r in resources["resources"]]
    assert env.api.request("/apis/apps/v1")[0] == 404
    assert env.api.request("/apis/apps")[0] == 404
    status, body = env.api.request(
        "/openapi/v2", accept="application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
    )
    assert status == 200 and body == ""
    status, root = env.api.request("/openapi/v3")
    assert status == 200 and "apis/certificates.k8s.io/v1" in root["paths"]
    status, doc = env.api.request(root["paths"]["api/v1"]["serverRelativeURL"])
    assert status == 200 and doc["openapi"].startswith("3.")


def test_representations(seeded: Env) -> None:
    table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    status, body = seeded.api.request(
        "/api/v1/namespaces/openshift-etcd/secrets?includeObject=None", accept=table
    )
    assert status == 200 and body["kind"] == "Table" and "object" not in body["rows"][0]
    status, body = seeded.api.request(
        "/apis/machine.openshift.io/v1beta1/machines",
        accept="application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
    )
    assert status == 200 and body["kind"] == "PartialObjectMetadataList"
    assert body["items"][0]["kind"] == "PartialObjectMetadata" and "spec" not in body["items"][0]
    status, body = seeded.api.request("/api/v1/nodes?labelSelector=node-role.kubernetes.io/master")
    assert status == 200 and body["kind"] == "NodeList" and body["apiVersion"] == "v1"
    assert (
        all(item["kind"] == "Node" for item in body["items"]) and int(body["metadata"]["resourceVersion"]) > 0
    )


def test_error_statuses(seeded: Env) -> None:
    api = seeded.api
    status, body = api.request("/api/v1/namespaces/openshift-etcd/nodes")
    assert status == 404 and body["kind"] == "Status" and body["reason"] == "NotFound"
    status, body = api.request(
        "/apis/machine.openshift.io/v1beta1/namespaces/openshift-machine-api/machines/nope"
    )
    assert (status, body["message"]) == (404, 'machines.machine.openshift.io "nope" not found')
    assert body["details"] == {"name": "nope", "group": "machine.openshift.io", "kind": "machines"}
    status, body = api.request("/api/v1/pods?labelSelector=a%20in%20(b")
    assert status == 400 and body["reason"] == "BadRequest"
    status, body = api.request(
        "/api/v1/namespaces/openshift-etcd/configmaps", method="POST", body={"metadata": {"name": "UPPER"}}
    )
    assert status == 422 and body["reason"] == "Invalid"
    status, body = api.request("/api/v1/namespaces/openshift-etcd/secrets", method="DELETE")
    assert status == 405 and body["reason"] == "MethodNotAllowed"
    status, body = api.request(
        "/apis/operator.openshift.io/v1/etcds/cluster",
        method="PATCH",
        body={"spec": {}},
        content_type="application/apply-patch+yaml",
    )
    assert status == 415 and body["reason"] == "UnsupportedMediaType"
    status, body = api.request(
        "/api/v1/namespaces/openshift-etcd/configmaps",
        method="POST",
        body="x",
        content_type="application/json",
    )
    assert status == 400
    status, body = api.request("/api/v1/namespaces/openshift-etcd/pods/x/exec")
    assert status == 404
    status, body = api.request(
        "/api/v1/namespaces/openshift-etcd/pods/etcd-ip-10-0-154-204.ec2.internal/exec"
    )
    assert (status, body["message"]) == (400, "Upgrade request required")
    status, body = api.request("/api/v1/namespaces/openshift-etcd/pods/p/log")
    assert status == 404
    status, body = api.request(
        "/api/v1/namespaces/openshift-etcd/configmaps?dryRun=All",
        method="POST",
        body={"metadata": {"name": "dry"}},
    )
    assert status == 201
    assert api.request("/api/v1/namespaces/openshift-etcd/configmaps/dry")[0] == 404
