"""Registry, key layout, discovery and OpenAPI documents."""

from __future__ import annotations

import pytest

from lab.kube.discovery import api_group, api_group_list, api_resource_list, api_versions, version_info
from lab.kube.keys import collection_prefix, name_from_key, object_key
from lab.kube.openapi import openapi_v2, openapi_v3_group, openapi_v3_root
from lab.kube.resources import Registry, ResourceType, default_registry

REG = default_registry()


@pytest.mark.parametrize(
    ("name", "plural"),
    [
        ("pods", "pods"),
        ("pod", "pods"),
        ("po", "pods"),
        ("Pod", "pods"),
        ("csr", "certificatesigningrequests"),
        ("CertificateSigningRequest", "certificatesigningrequests"),
        ("etcd", "etcds"),
        ("co", "clusteroperators"),
        ("machines.machine.openshift.io", "machines"),
        ("machine", "machines"),
        ("kubeapiserver", "kubeapiservers"),
        ("proxy", "proxies"),
        ("ns", "namespaces"),
    ],
)
def test_find_by_any_kubectl_name(name: str, plural: str) -> None:
    assert REG.find(name).plural == plural


def test_registry_lookups() -> None:
    machines = REG.lookup("machine.openshift.io", "v1beta1", "machines")
    assert machines is not None and machines.namespaced and machines.kind == "Machine"
    assert machines.group_resource == "machines.machine.openshift.io"
    assert machines.group_version == "machine.openshift.io/v1beta1"
    assert REG.lookup("", "v1", "machines") is None
    pods = REG.find("pods")
    assert (pods.group_resource, pods.group_version, pods.list_kind) == ("pods", "v1", "PodList")
    assert pods.has_status and "exec" in pods.subresources
    assert not REG.find("secrets").has_status
    with pytest.raises(KeyError):
        REG.find("deployments")
    with pytest.raises(KeyError):
        REG.find("pods", group="apps")
    with pytest.raises(ValueError, match="listed twice"):
        Registry((pods, pods))
    dup = Registry((pods, ResourceType("other.io", "v1", "Pod", "pods", True)))
    with pytest.raises(KeyError, match="ambiguous"):
        dup.find("pods")
    assert dup.find("pods.other.io").group == "other.io"
    assert set(REG.groups()) == {
        "",
        "certificates.k8s.io",
        "machine.openshift.io",
        "operator.openshift.io",
        "config.openshift.io",
    }


def test_one_line_adds_a_type() -> None:
    extra = ResourceType(
        "machine.openshift.io", "v1beta1", "MachineSet", "machinesets", True, short_names=("ms",)
    )
    reg = default_registry([extra])
    assert reg.find("ms") is extra and extra.singular == "machineset" and extra.printer == "machinesets"
    doc = api_resource_list(reg, "machine.openshift.io", "v1beta1")
    assert doc is not None and "machinesets" in [r["name"] for r in doc["resources"]]


def test_storage_keys_follow_openshift() -> None:
    assert (
        object_key(REG.find("pods"), "openshift-etcd", "etcd-m0")
        == "/kubernetes.io/pods/openshift-etcd/etcd-m0"
    )
    assert object_key(REG.find("nodes"), None, "m0") == "/kubernetes.io/nodes/m0"
    assert object_key(REG.find("nodes"), "ignored", "m0") == "/kubernetes.io/nodes/m0"
    assert object_key(REG.find("csr"), None, "csr-1") == "/kubernetes.io/certificatesigningrequests/csr-1"
    assert (
        object_key(REG.find("machines"), "openshift-machine-api", "m")
        == "/kubernetes.io/machine.openshift.io/machines/openshift-machine-api/m"
    )
    assert (
        object_key(REG.find("etcds"), None, "cluster") == "/kubernetes.io/operator.openshift.io/etcds/cluster"
    )
    assert collection_prefix(REG.find("pods")) == "/kubernetes.io/pods/"
    assert collection_prefix(REG.find("pods"), "ns") == "/kubernetes.io/pods/ns/"
    assert collection_prefix(REG.find("nodes"), "ns", prefix="/registry") == "/registry/nodes/"
    assert name_from_key("/kubernetes.io/pods/ns/p") == "p"
    with pytest.raises(ValueError):
        object_key(REG.find("pods"), None, "p")


def test_discovery_documents() -> None:
    version = version_info("v1.32.5+openshift")
    assert (version["major"], version["minor"], version["gitVersion"]) == ("1", "32", "v1.32.5+openshift")
    assert api_versions("127.0.0.1:6443")["versions"] == ["v1"]
    groups = {g["name"]: g for g in api_group_list(REG)["groups"]}
    assert "" not in groups
    assert groups["machine.openshift.io"]["preferredVersion"] == {
        "groupVersion": "machine.openshift.io/v1beta1",
        "version": "v1beta1",
    }
    assert (
        api_group(REG, "operator.openshift.io")
        == {"kind": "APIGroup", "apiVersion": "v1"} | groups["operator.openshift.io"]
    )
    assert api_group(REG, "apps") is None

    core = api_resource_list(REG, "", "v1")
    assert core is not None and core["groupVersion"] == "v1"
    by_name = {r["name"]: r for r in core["resources"]}
    assert by_name["pods"]["shortNames"] == ["po"] and by_name["pods"]["namespaced"] is True
    assert by_name["pods/exec"] == {
        "name": "pods/exec",
        "singularName": "",
        "namespaced": True,
        "kind": "PodExecOptions",
        "verbs": ["create", "get"],
    }
    assert by_name["nodes/status"]["verbs"] == ["get", "patch", "update"]
    assert "secrets/status" not in by_name
    certs = api_resource_list(REG, "certificates.k8s.io", "v1")
    assert certs is not None
    names = {r["name"]: r for r in certs["resources"]}
    assert set(names) == {
        "certificatesigningrequests",
        "certificatesigningrequests/approval",
        "certificatesigningrequests/status",
    }
    assert names["certificatesigningrequests"]["shortNames"] == ["csr"]
    etcds = {r["name"]: r for r in api_resource_list(REG, "operator.openshift.io", "v1")["resources"]}  # type: ignore[index]
    assert etcds["etcds"]["singularName"] == "etcd" and etcds["etcds"]["namespaced"] is False
    assert api_resource_list(REG, "apps", "v1") is None


def test_openapi_documents() -> None:
    body, content_type = openapi_v2("application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
    assert body == b"" and "protobuf" in content_type
    body, content_type = openapi_v2("application/json")
    assert content_type == "application/json" and b'"swagger"' in body
    root = openapi_v3_root(REG)["paths"]
    assert set(root) >= {"api/v1", "apis/machine.openshift.io/v1beta1"}
    assert root["api/v1"]["serverRelativeURL"].startswith("/openapi/v3/api/v1?hash=")
    doc = openapi_v3_group(REG, "apis/machine.openshift.io/v1beta1")
    assert doc is not None
    patch = doc["paths"]["/apis/machine.openshift.io/v1beta1/namespaces/{namespace}/machines/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "machine.openshift.io",
        "version": "v1beta1",
        "kind": "Machine",
    }
    assert [p["name"] for p in patch["parameters"]] == ["fieldValidation"]
    assert "/api/v1/nodes/{name}" in openapi_v3_group(REG, "api/v1")["paths"]  # type: ignore[index]
    assert openapi_v3_group(REG, "apis/apps/v1") is None
