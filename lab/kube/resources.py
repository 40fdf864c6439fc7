"""The resource types the lab API server serves, as data.

Why data: discovery, routing, storage keys, printing and the in-process :class:`~lab.kube.store.Store`
all derive from one :class:`ResourceType` entry, so serving one more type is one more line in
:data:`DEFAULT_RESOURCES`. Nothing here performs I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

__all__ = ["CLUSTER", "DEFAULT_RESOURCES", "NAMESPACED", "Registry", "ResourceType", "default_registry"]

_ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One served resource type (a REST collection), in the terms of Kubernetes discovery.

    ``subresources`` names the writable subresources: ``status`` (status writes touch only
    ``.status``; main-resource writes leave ``.status`` alone), ``approval`` (CSRs), and ``exec``
    (pods; relayed to the node's kubelet). ``printer`` selects the server-side table layout in
    :mod:`lab.kube.tables`. ``storage_group`` overrides the group segment of the etcd key: built-in
    Kubernetes groups (certificates.k8s.io) are stored without one, as kube-apiserver does, while
    custom resources are stored under their group.
    """

    group: str  # "" for the core (legacy) group
    version: str
    kind: str
    plural: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    subresources: frozenset[str] = frozenset()
    categories: tuple[str, ...] = ()
    printer: str = ""
    storage_group: str | None = None
    verbs: tuple[str, ...] = _ALL_VERBS

    def __post_init__(self) -> None:
        if not self.singular:
            object.__setattr__(self, "singular", self.kind.lower())
        if not self.printer:
            object.__setattr__(self, "printer", self.plural)

    @property
    def group_version(self) -> str:
        """``v1`` for core, ``group/version`` otherwise (the ``apiVersion`` of objects)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def group_resource(self) -> str:
        """``pods`` or ``machines.machine.openshift.io``: how errors and kubectl name the type."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def key_segment(self) -> str:
        """The etcd key path below the prefix up to the plural, e.g. ``machine.openshift.io/machines``."""
        group = self.group if self.storage_group is None else self.storage_group
        return f"{group}/{self.plural}" if group else self.plural


NAMESPACED = True
CLUSTER = False


def _res(
    group_version: str,
    kind: str,
    plural: str,
    namespaced: bool,
    *short_names: str,
    sub: str = "status",
    categories: tuple[str, ...] = (),
    storage_group: str | None = None,
) -> ResourceType:
    """One registry line: ``sub`` lists the subresources, space-separated ("" for none)."""
    group, _, version = group_version.rpartition("/")
    return ResourceType(
        group,
        version,
        kind,
        plural,
        namespaced,
        short_names=short_names,
        subresources=frozenset(sub.split()),
        categories=categories,
        storage_group=storage_group,
    )


DEFAULT_RESOURCES: tuple[ResourceType, ...] = (
    _res("v1", "Namespace", "namespaces", CLUSTER, "ns"),
    _res("v1", "Node", "nodes", CLUSTER, "no"),
    _res("v1", "Pod", "pods", NAMESPACED, "po", sub="status exec", categories=("all",)),
    _res("v1", "Secret", "secrets", NAMESPACED, sub=""),
    _res("v1", "ConfigMap", "configmaps", NAMESPACED, "cm", sub=""),
    _res("v1", "Event", "events", NAMESPACED, "ev", sub=""),
    _res("v1", "ServiceAccount", "serviceaccounts", NAMESPACED, "sa", sub=""),
    _res("certificates.k8s.io/v1", "CertificateSigningRequest", "certificatesigningrequests", CLUSTER, "csr",
         sub="status approval", storage_group=""),
    _res("machine.openshift.io/v1beta1", "Machine", "machines", NAMESPACED),
    _res("operator.openshift.io/v1", "Etcd", "etcds", CLUSTER),
    _res("operator.openshift.io/v1", "KubeAPIServer", "kubeapiservers", CLUSTER),
    _res("operator.openshift.io/v1", "KubeControllerManager", "kubecontrollermanagers", CLUSTER),
    _res("operator.openshift.io/v1", "KubeScheduler", "kubeschedulers", CLUSTER),
    _res("config.openshift.io/v1", "ClusterVersion", "clusterversions", CLUSTER),
    _res("config.openshift.io/v1", "Proxy", "proxies", CLUSTER),
    _res("config.openshift.io/v1", "APIServer", "apiservers", CLUSTER),
    _res("config.openshift.io/v1", "ClusterOperator", "clusteroperators", CLUSTER, "co"),
)  # fmt: skip


@dataclass(frozen=True)
class Registry:
    """A fixed set of resource types with the look-ups the server and the store need."""

    resources: tuple[ResourceType, ...]
    _by_gvr: dict[tuple[str, str, str], ResourceType] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_gvr: dict[tuple[str, str, str], ResourceType] = {}
        for res in self.resources:
            gvr = (res.group, res.version, res.plural)
            if gvr in by_gvr:
                raise ValueError(f"resource {res.plural} in {res.group_version} is listed twice")
            by_gvr[gvr] = res
        object.__setattr__(self, "_by_gvr", by_gvr)

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(self.resources)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The type served at ``/apis/<group>/<version>/<plural>`` (``/api/v1/<plural>`` for core)."""
        return self._by_gvr.get((group, version, plural))

    def find(self, name: str, group: str | None = None) -> ResourceType:
        """Resolve a name as kubectl does: plural, singular, short name or kind, optionally
        qualified as ``name.group``. Raises KeyError when nothing or more than one type matches."""
        if group is None and "." in name:
            head, _, tail = name.partition(".")
            qualified = [r for r in self.resources if r.group == tail and self._names(r, head)]
            if qualified:
                return self._only(name, qualified)
        candidates = [
            r for r in self.resources if (group is None or r.group == group) and self._names(r, name)
        ]
        return self._only(name, candidates)

    @staticmethod
    def _names(res: ResourceType, name: str) -> bool:
        lowered = name.lower()
        return lowered in (res.plural, res.singular, res.kind.lower(), *res.short_names)

    @staticmethod
    def _only(name: str, candidates: list[ResourceType]) -> ResourceType:
        if not candidates:
            raise KeyError(f"no resource type named {name!r}")
        if len(candidates) > 1:
            names = ", ".join(r.group_resource for r in candidates)
            raise KeyError(f"resource name {name!r} is ambiguous: {names}")
        return candidates[0]

    def groups(self) -> dict[str, list[str]]:
        """Group name → its versions, in registry order (core group under "")."""
        out: dict[str, list[str]] = {}
        for res in self.resources:
            versions = out.setdefault(res.group, [])
            if res.version not in versions:
                versions.append(res.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [r for r in self.resources if r.group == group and r.version == version]

    def namespaced(self) -> list[ResourceType]:
        return [r for r in self.resources if r.namespaced]


def default_registry(extra: Iterable[ResourceType] = ()) -> Registry:
    """The lab's resource types, plus any ``extra`` ones."""
    return Registry((*DEFAULT_RESOURCES, *extra))
