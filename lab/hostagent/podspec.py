"""Reading static pod manifests the way a kubelet does, reduced to what the lab's pods use."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class HttpProbe:
    host: str
    port: int
    path: str
    # Kubernetes' default: a ready container turns unready only after this many failures in a row, so
    # one slow answer of a busy etcd does not flap the pod's readiness.
    failure_threshold: int = 3


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    working_dir: str
    readiness: HttpProbe | None


@dataclass(frozen=True)
class StaticPod:
    """A manifest found in /etc/kubernetes/manifests; ``digest`` changes when the file's content does."""

    file: str
    namespace: str
    name: str
    manifest: dict[str, Any]
    containers: tuple[ContainerSpec, ...]
    digest: str
    termination_grace: float = field(default=5.0)

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


class ManifestError(ValueError):
    """A manifest a kubelet would refuse to run; reported in the agent log like kubelet's events."""


def _probe(spec: dict[str, Any] | None, default_host: str) -> HttpProbe | None:
    if not spec or "httpGet" not in spec:
        return None
    get = spec["httpGet"]
    return HttpProbe(
        host=str(get.get("host", default_host)),
        port=int(get["port"]),
        path=str(get["path"]),
        failure_threshold=max(1, int(spec.get("failureThreshold", 3))),
    )


def parse_manifest(path: Path, default_host: str) -> StaticPod:
    raw = path.read_bytes()
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path.name}: not YAML: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("kind") != "Pod":
        raise ManifestError(f"{path.name}: not a Pod manifest")
    meta = doc.get("metadata") or {}
    spec = doc.get("spec") or {}
    containers = []
    for c in spec.get("containers") or []:
        argv = tuple(str(a) for a in (c.get("command") or []) + (c.get("args") or []))
        if not argv:
            raise ManifestError(f"{path.name}: container {c.get('name')} has no command")
        env = tuple((str(e["name"]), str(e.get("value", ""))) for e in c.get("env") or [])
        containers.append(
            ContainerSpec(
                name=str(c["name"]),
                image=str(c.get("image", "")),
                argv=argv,
                env=env,
                working_dir=str(c.get("workingDir", "/")),
                readiness=_probe(c.get("readinessProbe"), default_host),
            )
        )
    if not containers:
        raise ManifestError(f"{path.name}: no containers")
    return StaticPod(
        file=path.name,
        namespace=str(meta.get("namespace", "default")),
        name=str(meta["name"]),
        manifest=doc,
        containers=tuple(containers),
        digest=hashlib.sha256(raw).hexdigest()[:16],
        termination_grace=float(spec.get("terminationGracePeriodSeconds", 5)),
    )


def read_manifests(directory: Path, default_host: str) -> tuple[list[StaticPod], list[str]]:
    """All valid pods in the folder, and one message per manifest that could not be used."""
    pods: list[StaticPod] = []
    errors: list[str] = []
    if not directory.is_dir():
        return pods, errors
    for path in sorted(directory.glob("*.yaml")):
        try:
            pods.append(parse_manifest(path, default_host))
        except (ManifestError, KeyError, OSError) as exc:
            errors.append(str(exc))
    return pods, errors
