"""Provisions a lab host on disk: its folders, SSH host key, host tools and etcd-certs folder.

Used for the three masters of a new lab and for each machine the machine API creates later.
"""

from __future__ import annotations

import base64
import shutil
from importlib import resources

import yaml

from lab.credentials import Credentials
from lab.installer import etcd_revision_files, write_atomically, write_files
from lab.manifests import RESOURCES, Runtime, restore_etcd_pod
from lab.paths import HOST_PRIVATE_PATHS, LabPaths
from lab.pki import KeyPair, new_ssh_key
from lab.topology import API_PORT, HostSpec

ETCD_CERTS = f"{RESOURCES}/etcd-certs"
NODE_KUBECONFIG = f"{RESOURCES}/kube-apiserver-certs/secrets/node-kubeconfigs/localhost.kubeconfig"


def _script(body: str) -> bytes:
    return ("#!/bin/sh\n" + body + "\n").encode()


def install_tools(paths: LabPaths, runtime: Runtime, host: HostSpec) -> None:
    bin_dir = paths.host(host.name).private("/usr/local/bin")
    bin_dir.mkdir(parents=True, exist_ok=True)
    for script in ("cluster-backup.sh", "cluster-restore.sh"):
        source = resources.files("lab.tools").joinpath(script)
        write_atomically(bin_dir / script, source.read_bytes(), 0o755)
    env = f"LAB_KUBELET_URL={host.kubelet_url}"
    write_atomically(
        bin_dir / "crictl", _script(f'{env} exec {runtime.python} -m lab.tools.crictl "$@"'), 0o755
    )
    write_atomically(
        bin_dir / "systemctl", _script(f'{env} exec {runtime.python} -m lab.tools.systemctl "$@"'), 0o755
    )
    sudo = (
        "# Lab hosts log in as core, which has uid 0: sudo only drops its own options.\n"
        'while [ $# -gt 0 ]; do\n  case "$1" in\n    -u|-g|-C|-h|-p) shift 2 ;;\n'
        "    --) shift; break ;;\n    -*) shift ;;\n    *) break ;;\n  esac\ndone\n"
        '[ $# -eq 0 ] && { echo "usage: sudo [-E] command" >&2; exit 1; }\nexec "$@"'
    )
    write_atomically(bin_dir / "sudo", _script(sudo), 0o755)


def provision_host(paths: LabPaths, runtime: Runtime, host: HostSpec) -> None:
    """Create a host's folders, host key (added to the lab's known_hosts) and tools."""
    hp = paths.host(host.name)
    if hp.root.exists():
        shutil.rmtree(hp.root)
    for private in HOST_PRIVATE_PATHS:
        hp.private(private).mkdir(parents=True, exist_ok=True)
    hp.inside("/tmp").chmod(0o1777)
    for folder in (
        "/etc/kubernetes/manifests",
        RESOURCES,
        "/var/lib/etcd",
        "/var/lib/kubelet/pki",
        "/home/core",
    ):
        hp.inside(folder).mkdir(parents=True, exist_ok=True)
    hp.logs.mkdir(parents=True, exist_ok=True)
    hp.sshd_dir.mkdir(parents=True, exist_ok=True)
    key = new_ssh_key(f"root@{host.node}")
    write_atomically(hp.sshd_dir / "ssh_host_ed25519_key", key.private_openssh, 0o600)
    write_atomically(hp.sshd_dir / "ssh_host_ed25519_key.pub", (key.public_line + "\n").encode())
    set_known_host(paths, host.ip, key.public_line)
    install_tools(paths, runtime, host)


def set_known_host(paths: LabPaths, ip: str, public_line: str) -> None:
    """Record (or replace) a host's key in the lab's known_hosts; ``ssh`` with it verifies the host."""
    key_type, key_data = public_line.split()[:2]
    lines = []
    if paths.known_hosts.exists():
        lines = [line for line in paths.known_hosts.read_text().splitlines() if line.split(" ", 1)[0] != ip]
    lines.append(f"{ip} {key_type} {key_data}")
    write_atomically(paths.known_hosts, ("\n".join(lines) + "\n").encode())


def forget_known_host(paths: LabPaths, ip: str) -> None:
    if paths.known_hosts.exists():
        lines = [line for line in paths.known_hosts.read_text().splitlines() if line.split(" ", 1)[0] != ip]
        write_atomically(paths.known_hosts, ("\n".join(lines) + "\n").encode())


def sync_etcd_certs(
    paths: LabPaths,
    runtime: Runtime,
    creds: Credentials,
    host: HostSpec,
    node_certs: dict[str, dict[str, KeyPair]],
) -> None:
    """The host's ``etcd-certs`` folder (OpenShift's cert syncer): certificates, scripts' env, restore pod.

    ``cluster-backup.sh`` and ``cluster-restore.sh`` source ``etcd-scripts/etcd.env`` from here, and the
    restore-etcd pod uses these certificates, so they stay usable when no revision folder is left.
    """
    hp = paths.host(host.name)
    base = hp.inside(ETCD_CERTS)
    write_files(base, etcd_revision_files(node_certs, creds.etcd_signer.cert_pem))
    env = {
        "ETCDCTL_API": "3",
        "ETCDCTL_CACERT": f"{ETCD_CERTS}/configmaps/etcd-serving-ca/ca-bundle.crt",
        "ETCDCTL_CERT": f"{ETCD_CERTS}/secrets/etcd-all-certs/etcd-peer-{host.node}.crt",
        "ETCDCTL_KEY": f"{ETCD_CERTS}/secrets/etcd-all-certs/etcd-peer-{host.node}.key",
        "ETCD_LOCAL_ENDPOINT": host.client_url,
        "ETCD_ETCDCTL_BIN": runtime.etcdctl,
        "ETCD_ETCDUTL_BIN": runtime.etcdutl,
        "NODE_KUBECONFIG": NODE_KUBECONFIG,
        "NODE_NAME": host.node,
    }
    body = "".join(f'export {k}="{v}"\n' for k, v in env.items())
    write_atomically(base / "configmaps/etcd-scripts/etcd.env", body.encode())
    restore = yaml.safe_dump(restore_etcd_pod(runtime, host), sort_keys=False).encode()
    write_atomically(base / "configmaps/restore-etcd-pod/pod.yaml", restore)
    kubeconfig = node_kubeconfig(f"https://{host.ip}:{API_PORT}", creds)
    write_atomically(hp.inside(NODE_KUBECONFIG), kubeconfig.encode(), 0o600)


def node_kubeconfig(server: str, creds: Credentials) -> str:
    return kubeconfig_text(server, creds.api_ca.cert_pem, creds.token("system:admin"), "lab")


def kubeconfig_text(server: str, ca_pem: bytes, token: str, name: str) -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": "admin"}}],
        "current-context": name,
    }
    return yaml.safe_dump(doc, sort_keys=False)
