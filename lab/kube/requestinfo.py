"""What a request URL addresses, parsed the way kube-apiserver's RequestInfoFactory does (pure).

Routing, auditing and error messages all need the same facts (verb, group, version, namespace,
resource, subresource, name), so they are worked out once, here, from the path, method and query.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["RequestInfo", "parse_request_info"]

# Subresources of a namespace object, which would otherwise read as namespaced resource names.
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_TRUE = frozenset({"1", "true", "True"})


@dataclass(frozen=True)
class RequestInfo:
    path: str
    verb: str  # get list watch create update patch delete deletecollection; or the lowercased method
    is_resource_request: bool = False
    api_prefix: str = ""  # "api" or "apis"
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""


def parse_request_info(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    """Parse ``/api/v1/namespaces/ns/pods/name/exec`` and friends; other paths are non-resource."""
    parts = [p for p in path.strip("/").split("/") if p]
    non_resource = RequestInfo(path=path, verb=method.lower())
    if not parts or parts[0] not in ("api", "apis"):
        return non_resource
    prefix = parts[0]
    rest = parts[1:]
    group = ""
    if prefix == "apis":
        if len(rest) < 3:  # /apis, /apis/<group>, /apis/<group>/<version>: discovery
            return non_resource
        group, rest = rest[0], rest[1:]
    elif len(rest) < 2:  # /api, /api/v1: discovery
        return non_resource
    version, rest = rest[0], rest[1:]

    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
        else:
            # /namespaces/<name> and /namespaces/<name>/status address the namespace object itself.
            namespace = ""
            rest = ["namespaces", rest[1], *rest[2:]]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if len(rest) > 3:
        return non_resource

    method = method.upper()
    if method in ("GET", "HEAD"):
        verb = "watch" if query.get("watch") in _TRUE else ("get" if name else "list")
    elif method == "POST":
        verb = "create"
    elif method == "PUT":
        verb = "update"
    elif method == "PATCH":
        verb = "patch"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = method.lower()
    if subresource == "exec" and method in ("GET", "POST"):
        verb = "create" if method == "POST" else "get"
    return RequestInfo(
        path=path,
        verb=verb,
        is_resource_request=True,
        api_prefix=prefix,
        api_group=group,
        api_version=version,
        namespace=namespace,
        resource=resource,
        subresource=subresource,
        name=name,
    )
