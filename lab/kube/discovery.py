"""Discovery documents (``/version``, ``/api``, ``/apis``, ``/apis/<g>/<v>``) built from the registry (pure).

Only legacy (unaggregated) discovery is served: kubectl and client-go ask for the aggregated
``apidiscovery.k8s.io`` form first but fall back when the answer's Content-Type is plain
``application/json``, which is what the server sends.
"""

from __future__ import annotations

from typing import Any

from lab.kube.resources import Registry, ResourceType

__all__ = ["api_group", "api_group_list", "api_resource_list", "api_versions", "version_info"]

_SUBRESOURCE_VERBS = ("get", "patch", "update")


def version_info(git_version: str) -> dict[str, Any]:
    """``/version``; ``git_version`` such as ``v1.30.7+openshift``."""
    core = git_version.lstrip("v").split("+", 1)[0].split("-", 1)[0]
    major, minor, *_ = [*core.split("."), "0", "0"][:3]
    return {
        "major": major,
        "minor": minor,
        "gitVersion": git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-01-01T00:00:00Z",
        "goVersion": "go1.22.5",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: Registry) -> dict[str, Any]:
    groups = [_group(name, versions) for name, versions in registry.groups().items() if name]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, name: str) -> dict[str, Any] | None:
    versions = registry.groups().get(name)
    if not name or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1"} | _group(name, versions)


def _resource_entries(res: ResourceType) -> list[dict[str, Any]]:
    main: dict[str, Any] = {
        "name": res.plural,
        "singularName": res.singular,
        "namespaced": res.namespaced,
        "kind": res.kind,
        "verbs": list(res.verbs),
    }
    if res.short_names:
        main["shortNames"] = list(res.short_names)
    if res.categories:
        main["categories"] = list(res.categories)
    entries = [main]
    for sub in sorted(res.subresources):
        entry: dict[str, Any] = {
            "name": f"{res.plural}/{sub}",
            "singularName": "",
            "namespaced": res.namespaced,
        }
        if sub == "exec":
            entry |= {"kind": "PodExecOptions", "verbs": ["create", "get"]}
        else:
            entry |= {"kind": res.kind, "verbs": list(_SUBRESOURCE_VERBS)}
        entries.append(entry)
    return entries


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    served = registry.in_group_version(group, version)
    if not served:
        return None
    resources = [entry for res in served for entry in _resource_entries(res)]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }
