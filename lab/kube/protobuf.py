"""Decoding the few Kubernetes protobuf request bodies that kubectl sends (pure).

Why: kubectl's typed clients send protobuf bodies whatever the server prefers — ``kubectl certificate
approve`` PUTs a protobuf CertificateSigningRequest to ``/approval``, ``kubectl create
namespace|secret|configmap`` POST protobuf objects — and client-go has no JSON fallback for them. The
server answers in JSON (the clients accept it), so only request bodies need decoding, and only for
these types. The wire format is the protobuf encoding behind the ``k8s\\0`` envelope
(``runtime.Unknown{typeMeta, raw}``); the schemas below list the fields the lab keeps, by the field
numbers of k8s.io/api's generated.proto. Fields not listed are dropped.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["PROTOBUF", "ProtobufError", "decode_object"]

PROTOBUF = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    """The body is not a protobuf object this server can read."""


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # string, bytes, int, bool, time, map, bytesmap, message
    repeated: bool = False
    message: Mapping[int, Field] | None = None


_TIME = "time"
_STR = "string"

_OBJECT_META: Mapping[int, Field] = {
    1: Field("name", _STR),
    2: Field("generateName", _STR),
    3: Field("namespace", _STR),
    5: Field("uid", _STR),
    6: Field("resourceVersion", _STR),
    7: Field("generation", "int"),
    8: Field("creationTimestamp", _TIME),
    11: Field("labels", "map"),
    12: Field("annotations", "map"),
    14: Field("finalizers", _STR, repeated=True),
}

_CSR_CONDITION: Mapping[int, Field] = {
    1: Field("type", _STR),
    2: Field("reason", _STR),
    3: Field("message", _STR),
    4: Field("lastUpdateTime", _TIME),
    5: Field("lastTransitionTime", _TIME),
    6: Field("status", _STR),
}

_SCHEMAS: Mapping[str, Mapping[int, Field]] = {
    "CertificateSigningRequest": {
        1: Field("metadata", "message", message=_OBJECT_META),
        2: Field(
            "spec",
            "message",
            message={
                1: Field("request", "bytes"),
                2: Field("usages", _STR, repeated=True),
                3: Field("username", _STR),
                4: Field("uid", _STR),
                5: Field("groups", _STR, repeated=True),
                7: Field("signerName", _STR),
                8: Field("expirationSeconds", "int"),
            },
        ),
        3: Field(
            "status",
            "message",
            message={
                1: Field("conditions", "message", repeated=True, message=_CSR_CONDITION),
                2: Field("certificate", "bytes"),
            },
        ),
    },
    "Namespace": {
        1: Field("metadata", "message", message=_OBJECT_META),
        2: Field("spec", "message", message={1: Field("finalizers", _STR, repeated=True)}),
        3: Field("status", "message", message={1: Field("phase", _STR)}),
    },
    "Secret": {
        1: Field("metadata", "message", message=_OBJECT_META),
        2: Field("data", "bytesmap"),
        3: Field("type", _STR),
        4: Field("stringData", "map"),
        5: Field("immutable", "bool"),
    },
    "ConfigMap": {
        1: Field("metadata", "message", message=_OBJECT_META),
        2: Field("data", "map"),
        3: Field("binaryData", "bytesmap"),
        4: Field("immutable", "bool"),
    },
}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs: ints for varints, bytes for length-delimited fields."""
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ProtobufError("truncated field")
            yield number, data[pos : pos + length]
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")


def _bytes(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise ProtobufError("expected a length-delimited field")
    return value


def _int(value: int | bytes) -> int:
    if not isinstance(value, int):
        raise ProtobufError("expected a varint field")
    return value - (1 << 64) if value >= 1 << 63 else value


def _time(raw: bytes) -> str | None:
    """metav1.Time; an empty message is Go's zero time, which JSON leaves out."""
    seconds: int | None = None
    for number, value in _fields(raw):
        if number == 1:
            seconds = _int(value)
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _map_entry(raw: bytes) -> tuple[str, bytes]:
    key, value = "", b""
    for number, item in _fields(raw):
        if number == 1:
            key = _bytes(item).decode()
        elif number == 2:
            value = _bytes(item)
    return key, value


def _message(raw: bytes, schema: Mapping[int, Field]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, value in _fields(raw):
        spec = schema.get(number)
        if spec is None:
            continue
        decoded: Any
        if spec.kind == "map":
            key, item = _map_entry(_bytes(value))
            out.setdefault(spec.name, {})[key] = item.decode()
            continue
        if spec.kind == "bytesmap":
            key, item = _map_entry(_bytes(value))
            out.setdefault(spec.name, {})[key] = base64.b64encode(item).decode()
            continue
        if spec.kind == _STR:
            decoded = _bytes(value).decode()
        elif spec.kind == "bytes":
            decoded = base64.b64encode(_bytes(value)).decode()
        elif spec.kind == "int":
            decoded = _int(value)
        elif spec.kind == "bool":
            decoded = bool(_int(value))
        elif spec.kind == _TIME:
            decoded = _time(_bytes(value))
        else:
            decoded = _message(_bytes(value), spec.message or {})
        if decoded is None or (decoded == "" and not spec.repeated):
            continue  # Go's empty optional fields, which JSON omits
        if spec.repeated:
            out.setdefault(spec.name, []).append(decoded)
        else:
            out[spec.name] = decoded
    return out


def decode_object(body: bytes) -> dict[str, Any]:
    """A JSON-shaped object from a ``k8s\\0``-enveloped protobuf body."""
    if not body.startswith(_MAGIC):
        raise ProtobufError("not a Kubernetes protobuf body (missing the k8s envelope)")
    api_version = kind = ""
    raw = b""
    for number, value in _fields(body[len(_MAGIC) :]):
        if number == 1:
            for sub, item in _fields(_bytes(value)):
                if sub == 1:
                    api_version = _bytes(item).decode()
                elif sub == 2:
                    kind = _bytes(item).decode()
        elif number == 2:
            raw = _bytes(value)
    schema = _SCHEMAS.get(kind)
    if schema is None:
        raise ProtobufError(f"protobuf bodies of kind {kind or '?'} are not supported; send JSON")
    return {"apiVersion": api_version, "kind": kind} | _message(raw, schema)
