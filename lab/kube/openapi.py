"""Just enough OpenAPI for kubectl's ``create``/``apply`` validation path (pure).

kubectl (``--validate=strict``, its default) first asks ``/openapi/v3`` whether each object's type
accepts the ``fieldValidation`` query parameter; when it does, kubectl leaves validation to the server
and sends ``fieldValidation=Strict``. It still loads ``/openapi/v2`` while building its validator, and
fails the command if that cannot be fetched. So the server publishes, per group-version, PATCH/POST
operations tagged with ``x-kubernetes-group-version-kind`` and the ``fieldValidation`` parameter, and an
empty (but valid) v2 document. No schemas: kubectl then computes patches from its built-in types, or
uses JSON merge patch for OpenShift's custom resources, as it does against a real cluster's CRDs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from lab.kube.resources import Registry, ResourceType

__all__ = ["openapi_v2", "openapi_v3_group", "openapi_v3_root"]

_PROTOBUF = "application/com.github.proto-openapi.spec.v2"


def openapi_v2(accept: str) -> tuple[bytes, str]:
    """An empty v2 document: zero bytes is a valid empty protobuf message, ``{...}`` for JSON."""
    if _PROTOBUF in accept:
        return b"", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    doc = {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "unversioned"}, "paths": {}}
    return json.dumps(doc).encode(), "application/json"


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _operations(res: ResourceType) -> dict[str, Any]:
    gvk = {"group": res.group, "version": res.version, "kind": res.kind}
    field_validation = {
        "name": "fieldValidation",
        "in": "query",
        "description": "fieldValidation instructs the server on how to handle objects in the request "
        "containing unknown or duplicate fields.",
        "schema": {"type": "string", "uniqueItems": True},
    }
    base = "/" + _gv_path(res.group, res.version)
    scope = f"{base}/namespaces/{{namespace}}/{res.plural}" if res.namespaced else f"{base}/{res.plural}"
    ok = {"200": {"description": "OK"}}
    return {
        scope: {
            "post": {
                "operationId": f"create{res.kind}",
                "x-kubernetes-action": "post",
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [field_validation],
                "responses": ok,
            }
        },
        f"{scope}/{{name}}": {
            "patch": {
                "operationId": f"patch{res.kind}",
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [field_validation],
                "responses": ok,
            },
            "put": {
                "operationId": f"replace{res.kind}",
                "x-kubernetes-action": "put",
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [field_validation],
                "responses": ok,
            },
        },
    }


def openapi_v3_group(registry: Registry, path: str) -> dict[str, Any] | None:
    """The v3 document of one group-version (``api/v1``, ``apis/<group>/<version>``), or None."""
    for group, versions in registry.groups().items():
        for version in versions:
            if _gv_path(group, version) == path.strip("/"):
                paths: dict[str, Any] = {}
                for res in registry.in_group_version(group, version):
                    paths.update(_operations(res))
                return {
                    "openapi": "3.0.0",
                    "info": {"title": "Kubernetes", "version": "unversioned"},
                    "paths": paths,
                    "components": {"schemas": {}},
                }
    return None


def openapi_v3_root(registry: Registry) -> dict[str, Any]:
    """``/openapi/v3``: where each group-version's document is, with a content hash for caching."""
    paths = {}
    for group, versions in registry.groups().items():
        for version in versions:
            path = _gv_path(group, version)
            doc = openapi_v3_group(registry, path)
            digest = hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}
