"""Where objects live in etcd: OpenShift's key layout, as pure functions.

OpenShift's kube-apiserver stores under ``/kubernetes.io`` (upstream uses ``/registry``):
``/kubernetes.io/<plural>/<namespace>/<name>`` for namespaced core types,
``/kubernetes.io/<plural>/<name>`` for cluster-scoped ones, and custom resources under their group,
``/kubernetes.io/<group>/<plural>/...``. Keeping the real layout means ``etcdctl get --prefix`` on a lab
master, a snapshot, and a restore all see what they would see on a real cluster.
"""

from __future__ import annotations

from lab.kube.resources import ResourceType

__all__ = ["DEFAULT_PREFIX", "collection_prefix", "name_from_key", "object_key"]

DEFAULT_PREFIX = "/kubernetes.io"


def object_key(res: ResourceType, namespace: str | None, name: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The key of one object; ``namespace`` is ignored for cluster-scoped types."""
    if res.namespaced:
        if not namespace:
            raise ValueError(f"{res.plural} are namespaced: a namespace is needed")
        return f"{prefix}/{res.key_segment}/{namespace}/{name}"
    return f"{prefix}/{res.key_segment}/{name}"


def collection_prefix(res: ResourceType, namespace: str | None = None, prefix: str = DEFAULT_PREFIX) -> str:
    """The key prefix (ending in ``/``) of every object of ``res``, or of those in ``namespace``."""
    if res.namespaced and namespace:
        return f"{prefix}/{res.key_segment}/{namespace}/"
    return f"{prefix}/{res.key_segment}/"


def name_from_key(key: str) -> str:
    return key.rsplit("/", 1)[-1]
