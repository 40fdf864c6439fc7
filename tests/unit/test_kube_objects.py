"""Object lifecycle rules, protobuf bodies, and the exec relay's pure helpers."""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime
from typing import Any

import pytest

from lab.kube.errors import BadRequest, Invalid, NotFound, status_object
from lab.kube.exec_proxy import choose_protocol, default_container, error_frame, node_internal_ip
from lab.kube.objects import (
    UserInfo,
    decode,
    encode,
    mark_deleting,
    prepare_create,
    prepare_update,
    same_object,
)
from lab.kube.protobuf import ProtobufError, decode_object
from lab.kube.resources import default_registry

REG = default_registry()
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def create(plural: str, obj: dict[str, Any], namespace: str | None = "ns", **kw: Any) -> dict[str, Any]:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    name = meta.get("name", "generated") if isinstance(meta, dict) else "generated"
    return prepare_create(REG.find(plural), namespace, obj, name=name, now=NOW, uid="u-1", **kw)


def test_create_sets_server_metadata_and_drops_status() -> None:
    body = {
        "metadata": {
            "name": "m",
            "namespace": "ns",
            "uid": "client",
            "resourceVersion": "9",
            "generation": 7,
        },
        "spec": {"a": 1},
        "status": {"phase": "Running"},
    }
    made = create("machines", body)
    assert list(made)[:3] == ["apiVersion", "kind", "metadata"]
    assert made["metadata"] == {
        "name": "m",
        "namespace": "ns",
        "uid": "u-1",
        "creationTimestamp": "2024-05-01T12:00:00Z",
        "generation": 1,
    }
    assert "status" not in made and body["status"] == {"phase": "Running"}
    assert create("machines", body, keep_status=True)["status"] == {"phase": "Running"}
    assert create("pods", {"metadata": {"name": "p"}})["status"] == {"phase": "Pending"}
    ns = create("namespaces", {"metadata": {"name": "openshift-etcd"}}, namespace=None)
    assert ns["status"] == {"phase": "Active"} and "namespace" not in ns["metadata"]
    assert create("secrets", {"metadata": {"name": "s"}})["type"] == "Opaque"
    user = UserInfo("system:node:m0", "uid-9", ("system:nodes",))
    csr = create(
        "csr", {"metadata": {"name": "c"}, "spec": {"username": "spoofed"}}, namespace=None, user=user
    )
    assert (csr["spec"]["username"], csr["spec"]["groups"], csr["spec"]["uid"]) == (
        "system:node:m0",
        ["system:nodes"],
        "uid-9",
    )


@pytest.mark.parametrize(
    "body",
    [
        ["not", "an", "object"],
        {"kind": "Secret", "metadata": {"name": "m"}},
        {"apiVersion": "v1", "metadata": {"name": "m"}},
        {"metadata": {"name": "m", "namespace": "other"}},
        {"metadata": "m"},
    ],
)
def test_create_rejects_mismatches(body: Any) -> None:
    with pytest.raises(BadRequest):
        create("machines", body)


def test_create_validates_names() -> None:
    with pytest.raises(Invalid, match=r'Machine.machine.openshift.io "Bad_Name" is invalid: metadata.name'):
        create("machines", {"metadata": {"name": "Bad_Name"}})
    with pytest.raises(Invalid):
        create("namespaces", {"metadata": {"name": "dots.are.not.labels"}}, namespace=None)
    create("nodes", {"metadata": {"name": "ip-10-0-131-183.ec2.internal"}}, namespace=None)


def test_update_rules() -> None:
    old = create(
        "machines",
        {"metadata": {"name": "m", "labels": {"a": "b"}}, "spec": {"x": 1}, "status": {"phase": "Running"}},
        keep_status=True,
    )
    old["metadata"]["resourceVersion"] = "5"
    client = json.loads(json.dumps(old))
    client["metadata"].update(
        uid="forged", creationTimestamp="1999-01-01T00:00:00Z", generation=99, labels={"c": "d"}
    )
    client["status"] = {"phase": "Failed"}
    same_spec = prepare_update(REG.find("machines"), old, client)
    assert same_spec["metadata"]["uid"] == "u-1" and same_spec["metadata"]["generation"] == 1
    assert same_spec["metadata"]["labels"] == {"c": "d"} and same_spec["status"] == {"phase": "Running"}
    assert "resourceVersion" not in same_spec["metadata"]
    client["spec"] = {"x": 2}
    assert prepare_update(REG.find("machines"), old, client)["metadata"]["generation"] == 2

    status = prepare_update(REG.find("machines"), old, client, subresource="status")
    assert status["status"] == {"phase": "Failed"} and status["spec"] == {"x": 1}
    assert status["metadata"]["labels"] == {"a": "b"}
    assert "status" not in prepare_update(REG.find("machines"), old, {"metadata": {}}, subresource="status")

    secret = create("secrets", {"metadata": {"name": "s"}, "data": {"a": "eA=="}})
    assert prepare_update(REG.find("secrets"), secret, secret | {"data": {}})["metadata"]["generation"] == 2

    csr = create(
        "csr",
        {"metadata": {"name": "c"}, "spec": {"request": "eA=="}, "status": {"certificate": "Yw=="}},
        namespace=None,
        keep_status=True,
    )
    approval = {
        "spec": {"request": "changed"},
        "status": {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "forged"},
    }
    approved = prepare_update(REG.find("csr"), csr, approval, subresource="approval")
    assert approved["spec"] == {"request": "eA=="}
    assert approved["status"] == {
        "certificate": "Yw==",
        "conditions": [{"type": "Approved", "status": "True"}],
    }
    with pytest.raises(BadRequest):
        prepare_update(REG.find("pods"), old, client, subresource="exec")


def test_storage_encoding_and_deletion() -> None:
    obj = create("configmaps", {"metadata": {"name": "c"}, "data": {"k": "v"}})
    obj["metadata"]["resourceVersion"] = "3"
    raw = encode(obj)
    assert b"resourceVersion" not in raw
    back = decode(raw, 42)
    assert back["metadata"]["resourceVersion"] == "42" and same_object(back, obj)
    assert not same_object(back, obj | {"data": {}})
    marked = mark_deleting(obj, NOW)
    assert marked["metadata"]["deletionTimestamp"] == "2024-05-01T12:00:00Z"
    assert marked["metadata"]["generation"] == 2
    assert mark_deleting(marked, datetime(2030, 1, 1, tzinfo=UTC)) == marked


def test_status_objects() -> None:
    err = NotFound.object("machines.machine.openshift.io", "m", group="machine.openshift.io", kind="machines")
    assert err.status() == status_object(
        404,
        "NotFound",
        'machines.machine.openshift.io "m" not found',
        {"name": "m", "group": "machine.openshift.io", "kind": "machines"},
    )
    assert err.status()["status"] == "Failure" and err.code == 404


# --- protobuf ---------------------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value: bytes | int | str) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return b"k8s\x00" + _field(1, _field(1, api_version) + _field(2, kind)) + _field(2, raw)


def test_protobuf_csr_approval_body() -> None:
    time_msg = _field(1, 1714564800)
    condition = (
        _field(1, "Approved")
        + _field(6, "True")
        + _field(2, "KubectlApprove")
        + _field(3, "ok")
        + _field(4, time_msg)
        + _field(5, b"")
    )
    meta = _field(1, "csr-1") + _field(6, "17") + _field(11, _field(1, "k") + _field(2, "v")) + _field(3, "")
    status = _field(1, condition) + _field(2, b"\x01\x02")
    raw = (
        _field(1, meta)
        + _field(2, _field(7, "kubernetes.io/kubelet-serving") + _field(8, 3600))
        + _field(3, status)
        + _field(99, "ignored")
    )
    obj = decode_object(_envelope("certificates.k8s.io/v1", "CertificateSigningRequest", raw))
    assert obj == {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": "csr-1", "resourceVersion": "17", "labels": {"k": "v"}},
        "spec": {"signerName": "kubernetes.io/kubelet-serving", "expirationSeconds": 3600},
        "status": {
            "conditions": [
                {
                    "type": "Approved",
                    "status": "True",
                    "reason": "KubectlApprove",
                    "message": "ok",
                    "lastUpdateTime": "2024-05-01T12:00:00Z",
                }
            ],
            "certificate": "AQI=",
        },
    }


def test_protobuf_secret_and_errors() -> None:
    raw = _field(1, _field(1, "s")) + _field(2, _field(1, "a") + _field(2, b"\x00\xff")) + _field(3, "Opaque")
    raw += _field(5, 1) + struct.pack("<B", 0x0D) + b"\x00\x00\x00\x00"  # a fixed32 field (13) is skipped
    secret = decode_object(_envelope("v1", "Secret", raw))
    assert secret == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"a": "AP8="},
        "type": "Opaque",
        "immutable": True,
    }
    with pytest.raises(ProtobufError, match="not supported"):
        decode_object(_envelope("apps/v1", "Deployment", b""))
    with pytest.raises(ProtobufError):
        decode_object(b'{"kind": "Secret"}')
    with pytest.raises(ProtobufError):
        decode_object(_envelope("v1", "Secret", _field(1, b"\x0a\x05ab")))


# --- exec relay helpers -----------------------------------------------------------------------------


def test_exec_protocol_and_targets() -> None:
    assert choose_protocol(["v4.channel.k8s.io", " v5.channel.k8s.io"]) == "v5.channel.k8s.io"
    assert choose_protocol(["v4.channel.k8s.io", "channel.k8s.io"]) == "v4.channel.k8s.io"
    assert choose_protocol(["base64.channel.k8s.io"]) is None
    pod = {
        "metadata": {"name": "etcd-m0", "annotations": {"kubectl.kubernetes.io/default-container": "etcd"}},
        "spec": {"containers": [{"name": "etcdctl"}, {"name": "etcd"}]},
    }
    assert default_container(pod, None) == "etcd"
    assert default_container(pod, "etcdctl") == "etcdctl"
    pod["metadata"]["annotations"] = {}
    assert default_container(pod, None) == "etcdctl"
    with pytest.raises(BadRequest, match="container nope is not valid for pod etcd-m0"):
        default_container(pod, "nope")
    node = {
        "status": {
            "addresses": [
                {"type": "Hostname", "address": "m0"},
                {"type": "InternalIP", "address": "127.0.0.11"},
            ]
        }
    }
    assert node_internal_ip(node) == "127.0.0.11"
    assert node_internal_ip({"status": {}}) is None
    frame = error_frame("v5.channel.k8s.io", "error dialing backend: refused")
    assert frame[0] == 3 and json.loads(frame[1:])["message"] == "error dialing backend: refused"
    assert error_frame("v2.channel.k8s.io", "boom") == b"\x03boom"
