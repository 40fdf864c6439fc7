"""Request parsing: URL → RequestInfo, Accept → representation, tokens, audit lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lab.kube.audit import AuditLog, AuditRecord
from lab.kube.auth import TokenAuthenticator, parse_token_file
from lab.kube.negotiation import negotiate
from lab.kube.requestinfo import RequestInfo, parse_request_info


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/pods", {}, ("list", "", "v1", "", "pods", "", "")),
        ("GET", "/api/v1/pods", {"watch": "1"}, ("watch", "", "v1", "", "pods", "", "")),
        ("GET", "/api/v1/namespaces/ns/pods/p", {}, ("get", "", "v1", "ns", "pods", "p", "")),
        ("POST", "/api/v1/namespaces/ns/pods", {}, ("create", "", "v1", "ns", "pods", "", "")),
        ("GET", "/api/v1/namespaces/ns/pods/p/exec", {}, ("get", "", "v1", "ns", "pods", "p", "exec")),
        ("POST", "/api/v1/namespaces/ns/pods/p/exec", {}, ("create", "", "v1", "ns", "pods", "p", "exec")),
        (
            "PATCH",
            "/api/v1/namespaces/ns/pods/p/status",
            {},
            ("patch", "", "v1", "ns", "pods", "p", "status"),
        ),
        ("GET", "/api/v1/namespaces/ns", {}, ("get", "", "v1", "", "namespaces", "ns", "")),
        ("PUT", "/api/v1/namespaces/ns/status", {}, ("update", "", "v1", "", "namespaces", "ns", "status")),
        ("GET", "/api/v1/namespaces", {}, ("list", "", "v1", "", "namespaces", "", "")),
        (
            "DELETE",
            "/apis/machine.openshift.io/v1beta1/namespaces/openshift-machine-api/machines/m",
            {},
            ("delete", "machine.openshift.io", "v1beta1", "openshift-machine-api", "machines", "m", ""),
        ),
        (
            "PUT",
            "/apis/certificates.k8s.io/v1/certificatesigningrequests/c/approval",
            {},
            ("update", "certificates.k8s.io", "v1", "", "certificatesigningrequests", "c", "approval"),
        ),
        (
            "DELETE",
            "/api/v1/namespaces/ns/secrets",
            {},
            ("deletecollection", "", "v1", "ns", "secrets", "", ""),
        ),
    ],
)
def test_resource_requests(method: str, path: str, query: dict[str, str], expected: tuple[str, ...]) -> None:
    info = parse_request_info(method, path, query)
    assert info.is_resource_request
    assert (
        info.verb,
        info.api_group,
        info.api_version,
        info.namespace,
        info.resource,
        info.name,
        info.subresource,
    ) == expected


@pytest.mark.parametrize(
    "path",
    [
        "/api",
        "/api/v1",
        "/apis",
        "/apis/machine.openshift.io",
        "/apis/g/v1",
        "/version",
        "/readyz",
        "/api/v1/a/b/c/d",
    ],
)
def test_non_resource_requests(path: str) -> None:
    info = parse_request_info("GET", path, {})
    assert info == RequestInfo(path=path, verb="get")


@pytest.mark.parametrize(
    ("accept", "as_kind", "version"),
    [
        (None, "", "v1"),
        ("application/json", "", "v1"),
        (
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
            "Table",
            "v1",
        ),
        ("application/json;as=Table;v=v1beta1;g=meta.k8s.io", "Table", "v1beta1"),
        ("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io, application/json", "", "v1"),
        ("application/json;as=Table;v=v9;g=meta.k8s.io", "", "v1"),
        (
            "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
            "PartialObjectMetadataList",
            "v1",
        ),
        ("application/vnd.kubernetes.protobuf, */*", "", "v1"),
    ],
)
def test_negotiation(accept: str | None, as_kind: str, version: str) -> None:
    rep = negotiate(accept)
    assert (rep.as_kind, rep.version) == (as_kind, version)
    assert rep.table is (as_kind == "Table")


def test_token_file_and_authentication(tmp_path: Path) -> None:
    text = (
        "# lab tokens\n\n"
        'admintoken,kube:admin,uid-1,"system:cluster-admins,system:masters"\n'
        "bot,etcdops-bot,uid-2\n"
    )
    users = parse_token_file(text)
    assert users["admintoken"].name == "kube:admin"
    assert users["admintoken"].groups == ("system:cluster-admins", "system:masters", "system:authenticated")
    assert users["bot"].groups == ("system:authenticated",)
    path = tmp_path / "tokens.csv"
    path.write_text(text)
    auth = TokenAuthenticator.from_file(path)
    assert auth.enabled
    assert auth.authenticate("Bearer admintoken") == users["admintoken"]
    assert auth.authenticate("bearer  bot ") == users["bot"]
    for header in (None, "", "Bearer", "Bearer nope", "Basic admintoken", "admintoken"):
        assert auth.authenticate(header) is None
    open_auth = TokenAuthenticator.from_file(None)
    assert not open_auth.enabled
    anyone = open_auth.authenticate(None)
    assert anyone is not None and anyone.name == "system:admin"
    with pytest.raises(ValueError, match="line 1"):
        parse_token_file("only-a-token\n")


def test_audit_lines(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit" / "audit.log")
    info = parse_request_info("DELETE", "/api/v1/namespaces/openshift-etcd/secrets/etcd-peer-m0", {})
    log.write(AuditRecord(datetime(2024, 5, 1, 12, 0, tzinfo=UTC), "kube:admin", info, 200))
    log.write(
        AuditRecord(
            datetime(2024, 5, 1, 12, 0, 1, tzinfo=UTC),
            "system:anonymous",
            parse_request_info("GET", "/version", {}),
            200,
        )
    )
    log.close()
    first, second = (json.loads(line) for line in (tmp_path / "audit" / "audit.log").read_text().splitlines())
    assert first == {
        "time": "2024-05-01T12:00:00Z",
        "user": "kube:admin",
        "verb": "delete",
        "apiGroup": "",
        "apiVersion": "v1",
        "resource": "secrets",
        "subresource": "",
        "namespace": "openshift-etcd",
        "name": "etcd-peer-m0",
        "code": 200,
    }
    assert second["path"] == "/version" and second["verb"] == "get"
