"""Writes static pod revisions onto a host's disk, as OpenShift's installer pods do.

A revision is a folder ``/etc/kubernetes/static-pod-resources/<operand>-pod-<N>/`` holding the pod
manifest, its configmaps and its secrets; activating it copies the manifest into the kubelet's folder.
The manifest is written under a temporary name first and renamed, so the kubelet never reads half a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from lab.manifests import MANIFESTS, manifest_file, resource_dir
from lab.paths import HostPaths
from lab.pki import KeyPair


def write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write under a hidden temporary name, then rename: readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(mode)
    os.replace(tmp, path)


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` (paths relative to ``folder``); keys and tokens under ``secrets/`` get mode 600."""
    folder.mkdir(parents=True, exist_ok=True)
    for relative, data in files.items():
        secret = relative.startswith("secrets/") and relative.endswith((".key", ".csv"))
        write_atomically(folder / relative, data, 0o600 if secret else 0o644)


def write_manifest(host: HostPaths, operand: str, pod: dict[str, Any]) -> None:
    """Put a pod manifest in the kubelet's folder (the kubelet starts or restarts that pod)."""
    write_atomically(
        host.inside(f"{MANIFESTS}/{manifest_file(operand)}"), yaml.safe_dump(pod, sort_keys=False).encode()
    )


def install_revision(
    host: HostPaths,
    operand: str,
    revision: int,
    pod: dict[str, Any],
    files: dict[str, bytes],
    *,
    activate: bool = True,
) -> Path:
    """Write revision ``revision`` of ``operand``: ``files`` are paths relative to the revision folder."""
    folder = host.inside(resource_dir(operand, revision))
    write_files(folder, files)
    write_atomically(folder / manifest_file(operand), yaml.safe_dump(pod, sort_keys=False).encode())
    if activate:
        write_manifest(host, operand, pod)
    return folder


def etcd_revision_files(node_certs: dict[str, dict[str, KeyPair]], signer_ca_pem: bytes) -> dict[str, bytes]:
    """``etcd-all-certs`` for every member (``etcd-peer-<node>.crt`` ...) plus the CA bundles.

    ``node_certs`` maps node name to {"etcd-peer": pair, "etcd-serving": pair, "etcd-serving-metrics": pair}.
    """
    files: dict[str, bytes] = {
        "configmaps/etcd-serving-ca/ca-bundle.crt": signer_ca_pem,
        "configmaps/etcd-peer-client-ca/ca-bundle.crt": signer_ca_pem,
    }
    for node, pairs in node_certs.items():
        for kind, pair in pairs.items():
            files[f"secrets/etcd-all-certs/{kind}-{node}.crt"] = pair.cert_pem
            files[f"secrets/etcd-all-certs/{kind}-{node}.key"] = pair.key_pem
    return files


def apiserver_revision_files(
    serving: KeyPair, etcd_client: KeyPair, etcd_ca_pem: bytes, tokens_csv: bytes
) -> dict[str, bytes]:
    return {
        "secrets/serving-cert/tls.crt": serving.cert_pem,
        "secrets/serving-cert/tls.key": serving.key_pem,
        "secrets/etcd-client/tls.crt": etcd_client.cert_pem,
        "secrets/etcd-client/tls.key": etcd_client.key_pem,
        "secrets/tokens/tokens.csv": tokens_csv,
        "configmaps/etcd-serving-ca/ca-bundle.crt": etcd_ca_pem,
    }


def current_revision(host: HostPaths, operand: str) -> int | None:
    """The revision the host's manifest runs now, read from the manifest itself (None when moved out)."""
    path = host.inside(f"{MANIFESTS}/{manifest_file(operand)}")
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    labels = ((doc or {}).get("metadata") or {}).get("labels") or {}
    value = labels.get("revision", "")
    return int(value) if str(value).isdigit() else None
