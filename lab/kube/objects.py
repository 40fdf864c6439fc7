"""Object lifecycle rules: what the server fills in on create and keeps on update (pure).

These are the parts of kube-apiserver's per-type strategies that the lab's clients notice:
server-owned metadata (uid, creationTimestamp, generation, resourceVersion) cannot be set by clients;
``metadata.generation`` moves only when the desired state changes; for types with a ``status``
subresource the main resource never writes ``.status`` and the status subresource writes nothing else;
creating such an object drops the status it was sent (a pod starts Pending, a CSR unapproved).
"""

from __future__ import annotations

import copy
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lab.kube.errors import BadRequest, Invalid
from lab.kube.resources import ResourceType

__all__ = [
    "KubeObject",
    "UserInfo",
    "decode",
    "encode",
    "format_time",
    "generate_name",
    "mark_deleting",
    "parse_time",
    "prepare_create",
    "prepare_update",
    "same_object",
    "with_resource_version",
]

KubeObject = dict[str, Any]

# Kubernetes' name generator avoids vowels and look-alike characters.
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Metadata only the server sets; a client's values are ignored.
_SERVER_METADATA = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "resourceVersion",
    "selfLink",
)


@dataclass(frozen=True)
class UserInfo:
    """The authenticated user of a request (from the static token file)."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, to the second, as Kubernetes writes metav1.Time."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def generate_name(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))


def encode(obj: KubeObject) -> bytes:
    """The stored form: JSON without the resourceVersion (that is etcd's mod revision)."""
    stored = dict(obj)
    meta = dict(stored.get("metadata") or {})
    meta.pop("resourceVersion", None)
    meta.pop("selfLink", None)
    stored["metadata"] = meta
    return json.dumps(stored, separators=(",", ":"), sort_keys=False).encode()


def decode(value: bytes, mod_revision: int) -> KubeObject:
    obj: KubeObject = json.loads(value)
    return with_resource_version(obj, mod_revision)


def with_resource_version(obj: KubeObject, revision: int) -> KubeObject:
    meta = obj.setdefault("metadata", {})
    meta["resourceVersion"] = str(revision)
    return obj


def _check_type(res: ResourceType, obj: Any) -> KubeObject:
    if not isinstance(obj, dict):
        raise BadRequest("the request body must be a JSON object")
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    if kind not in (None, "", res.kind):
        raise BadRequest(f"the kind of the provided object ({kind}) does not match the resource ({res.kind})")
    if api_version not in (None, "", res.group_version):
        raise BadRequest(
            f"the API version of the provided object ({api_version}) does not match the resource "
            f"({res.group_version})"
        )
    metadata = obj.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadRequest("metadata must be a JSON object")
    return obj


def _invalid(res: ResourceType, name: str, field: str, value: Any, detail: str) -> Invalid:
    message = (
        f'{res.kind}.{res.group} "{name}" is invalid: {field}: Invalid value: {json.dumps(value)}: {detail}'
    )
    if not res.group:
        message = f'{res.kind} "{name}" is invalid: {field}: Invalid value: {json.dumps(value)}: {detail}'
    return Invalid(
        message,
        {
            "name": name,
            "group": res.group,
            "kind": res.kind,
            "causes": [
                {"reason": "FieldValueInvalid", "message": f"Invalid value: {detail}", "field": field}
            ],
        },
    )


def validate_name(res: ResourceType, name: str) -> None:
    """DNS-1123 subdomain names (namespaces: labels), as most types require."""
    pattern, limit = (_LABEL_RE, 63) if res.plural == "namespaces" else (_SUBDOMAIN_RE, 253)
    if len(name) > limit or not pattern.match(name):
        raise _invalid(
            res,
            name,
            "metadata.name",
            name,
            "a lowercase RFC 1123 name must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character",
        )


def check_namespace(res: ResourceType, obj: KubeObject, namespace: str | None) -> None:
    """The body's namespace, when it has one, must agree with the request's."""
    body_ns = (obj.get("metadata") or {}).get("namespace")
    if res.namespaced and body_ns and namespace and body_ns != namespace:
        raise BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
        )


def prepare_create(
    res: ResourceType,
    namespace: str | None,
    obj: Any,
    *,
    name: str,
    now: datetime,
    uid: str,
    keep_status: bool = False,
    user: UserInfo | None = None,
) -> KubeObject:
    """The object as first stored: server metadata filled in, client-owned metadata kept."""
    body = copy.deepcopy(_check_type(res, obj))
    check_namespace(res, body, namespace)
    validate_name(res, name)
    body["apiVersion"] = res.group_version
    body["kind"] = res.kind
    meta = body.setdefault("metadata", {})
    for field in _SERVER_METADATA:
        meta.pop(field, None)
    meta.pop("managedFields", None)
    meta["name"] = name
    if res.namespaced:
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    meta["uid"] = uid
    meta["creationTimestamp"] = format_time(now)
    meta["generation"] = 1
    if res.has_status and not keep_status:
        body.pop("status", None)
    _apply_create_defaults(res, body, user)
    return _ordered(body)


def _apply_create_defaults(res: ResourceType, body: KubeObject, user: UserInfo | None) -> None:
    if res.group == "" and res.plural == "namespaces":
        body.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        body.setdefault("status", {}).setdefault("phase", "Active")
    elif res.group == "" and res.plural == "pods":
        body.setdefault("status", {}).setdefault("phase", "Pending")
    elif res.group == "" and res.plural == "secrets":
        body.setdefault("type", "Opaque")
    elif res.plural == "certificatesigningrequests" and user is not None:
        spec = body.setdefault("spec", {})
        spec["username"] = user.name
        spec["groups"] = list(user.groups)
        if user.uid:
            spec["uid"] = user.uid
        else:
            spec.pop("uid", None)


def _ordered(obj: KubeObject) -> KubeObject:
    """apiVersion, kind, metadata first, as the real server prints them."""
    head = {k: obj[k] for k in ("apiVersion", "kind", "metadata") if k in obj}
    return head | {k: v for k, v in obj.items() if k not in head}


def _desired_state(res: ResourceType, obj: KubeObject) -> KubeObject:
    """The part of an object whose change bumps ``metadata.generation``."""
    skip = (
        {"metadata", "status", "apiVersion", "kind"} if res.has_status else {"metadata", "apiVersion", "kind"}
    )
    return {k: v for k, v in obj.items() if k not in skip}


def prepare_update(
    res: ResourceType,
    old: KubeObject,
    new: Any,
    *,
    subresource: str | None = None,
) -> KubeObject:
    """The object to store when a client writes ``new`` over the stored ``old``.

    ``subresource`` is None (main resource), ``"status"``, or ``"approval"`` (CSR conditions only).
    The caller has already checked names, namespaces and the resourceVersion precondition.
    """
    body = _check_type(res, new)
    old_meta = old.get("metadata", {})
    if subresource in ("status", "approval"):
        result = copy.deepcopy(old)
        new_status = body.get("status")
        if subresource == "approval":
            status = dict(result.get("status") or {})
            conditions = (new_status or {}).get("conditions")
            if conditions:
                status["conditions"] = copy.deepcopy(conditions)
            else:
                status.pop("conditions", None)
            result["status"] = status
        elif new_status is None:
            result.pop("status", None)
        else:
            result["status"] = copy.deepcopy(new_status)
        return result
    if subresource is not None:
        raise BadRequest(f"subresource {subresource!r} cannot be written")
    result = copy.deepcopy(body)
    result["apiVersion"] = res.group_version
    result["kind"] = res.kind
    meta = result.setdefault("metadata", {})
    for field in _SERVER_METADATA:
        meta.pop(field, None)
        if field in old_meta and field != "resourceVersion":
            meta[field] = copy.deepcopy(old_meta[field])
    meta.pop("managedFields", None)
    meta["name"] = old_meta.get("name")
    if res.namespaced:
        meta["namespace"] = old_meta.get("namespace")
    if res.has_status:
        if "status" in old:
            result["status"] = copy.deepcopy(old["status"])
        else:
            result.pop("status", None)
    if _desired_state(res, result) != _desired_state(res, old):
        meta["generation"] = int(old_meta.get("generation") or 0) + 1
    return _ordered(result)


def mark_deleting(obj: KubeObject, now: datetime) -> KubeObject:
    """Graceful deletion of an object that still has finalizers: stamp it, keep it."""
    result = copy.deepcopy(obj)
    meta = result.setdefault("metadata", {})
    if not meta.get("deletionTimestamp"):
        meta["deletionTimestamp"] = format_time(now)
        meta["deletionGracePeriodSeconds"] = 0
        meta["generation"] = int(meta.get("generation") or 0) + 1
    return result


def same_object(a: KubeObject, b: KubeObject) -> bool:
    """Equal apart from the resourceVersion: such a write is skipped, as kube-apiserver does."""

    def strip(obj: KubeObject) -> KubeObject:
        meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "resourceVersion"}
        return obj | {"metadata": meta}

    return strip(a) == strip(b)
