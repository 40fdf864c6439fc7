"""Static pod manifests of a lab master, as OpenShift's operators would render them (pure).

Each operand (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) has numbered revisions under
``/etc/kubernetes/static-pod-resources/<operand>-pod-<N>/``; the manifest in
``/etc/kubernetes/manifests/<operand>-pod.yaml`` names the folder of the revision it runs. That is what
``cluster-backup.sh`` reads to find "the latest static pod resources", and what a restore brings back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lab.topology import (
    API_ADDRESS,
    API_PORT,
    ETCD_CLIENT_PORT,
    ETCD_METRICS_PORT,
    ETCD_NAMESPACE,
    HostSpec,
)

RESOURCES = "/etc/kubernetes/static-pod-resources"
MANIFESTS = "/etc/kubernetes/manifests"
OPERANDS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
OPERAND_NAMESPACES = {
    "etcd": ETCD_NAMESPACE,
    "kube-apiserver": "openshift-kube-apiserver",
    "kube-controller-manager": "openshift-kube-controller-manager",
    "kube-scheduler": "openshift-kube-scheduler",
}
QUOTA_BACKEND_BYTES = 8 * 1024**3
IMAGE = "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:"


@dataclass(frozen=True)
class Runtime:
    """Where the lab's programs are on this machine (the lab's "container images").

    ``etcdutl`` is etcdctl itself with Debian's etcd 3.4, whose etcdctl still has ``snapshot status`` and
    ``snapshot restore``.
    """

    python: str
    etcd: str
    etcdctl: str
    etcdutl: str


def resource_dir(operand: str, revision: int) -> str:
    return f"{RESOURCES}/{operand}-pod-{revision}"


def manifest_file(operand: str) -> str:
    return f"{operand}-pod.yaml"


def etcd_cert_paths(revision: int, node: str) -> dict[str, str]:
    """Where a revision keeps etcd's certificates (OpenShift 4.4's ``etcd-all-certs`` layout)."""
    certs = f"{resource_dir('etcd', revision)}/secrets/etcd-all-certs"
    cas = f"{resource_dir('etcd', revision)}/configmaps"
    return {
        "peer_cert": f"{certs}/etcd-peer-{node}.crt",
        "peer_key": f"{certs}/etcd-peer-{node}.key",
        "serving_cert": f"{certs}/etcd-serving-{node}.crt",
        "serving_key": f"{certs}/etcd-serving-{node}.key",
        "metrics_cert": f"{certs}/etcd-serving-metrics-{node}.crt",
        "metrics_key": f"{certs}/etcd-serving-metrics-{node}.key",
        "serving_ca": f"{cas}/etcd-serving-ca/ca-bundle.crt",
        "peer_ca": f"{cas}/etcd-peer-client-ca/ca-bundle.crt",
    }


def etcdctl_env(revision: int, host: HostSpec, endpoints: list[str]) -> list[dict[str, str]]:
    """The variables OpenShift sets in the etcdctl container, so ``oc rsh`` + ``etcdctl`` just works."""
    paths = etcd_cert_paths(revision, host.node)
    return [
        {"name": "ETCDCTL_API", "value": "3"},
        {"name": "ETCDCTL_CACERT", "value": paths["serving_ca"]},
        {"name": "ETCDCTL_CERT", "value": paths["peer_cert"]},
        {"name": "ETCDCTL_KEY", "value": paths["peer_key"]},
        {"name": "ETCDCTL_ENDPOINTS", "value": ",".join(endpoints)},
        {"name": "NODE_NAME", "value": host.node},
    ]


def _pod(
    operand: str, revision: int, containers: list[dict[str, Any]], *, name: str | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name or operand,
            "namespace": OPERAND_NAMESPACES[operand],
            "labels": {"app": operand, operand: "true", "revision": str(revision)},
            "annotations": {"kubectl.kubernetes.io/default-container": containers[0]["name"]},
        },
        "spec": {
            "hostNetwork": True,
            "priorityClassName": "system-node-critical",
            "terminationGracePeriodSeconds": 5,
            "containers": containers,
            "volumes": [
                {"name": "resource-dir", "hostPath": {"path": resource_dir(operand, revision)}},
                {"name": "data-dir", "hostPath": {"path": "/var/lib/etcd"}},
            ],
        },
    }


def _sleeper(name: str, env: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """A side container (etcdctl, etcd-metrics, ...): present and running, doing nothing itself."""
    return {
        "name": name,
        "image": IMAGE + name,
        "command": ["/bin/sleep", "infinity"],
        "env": env or [],
    }


def _path_env(runtime: Runtime) -> dict[str, str]:
    """etcdctl on the PATH of the etcd pod's containers, as in OpenShift's etcd image."""
    bin_dir = runtime.etcdctl.rsplit("/", 1)[0]
    return {
        "name": "PATH",
        "value": f"{bin_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    }


def etcd_flags(revision: int, host: HostSpec) -> list[str]:
    paths = etcd_cert_paths(revision, host.node)
    return [
        f"--listen-client-urls={host.client_url}",
        f"--advertise-client-urls={host.client_url}",
        f"--listen-peer-urls={host.peer_url}",
        f"--initial-advertise-peer-urls={host.peer_url}",
        f"--listen-metrics-urls=http://{host.ip}:{ETCD_METRICS_PORT}",
        f"--cert-file={paths['serving_cert']}",
        f"--key-file={paths['serving_key']}",
        f"--trusted-ca-file={paths['serving_ca']}",
        "--client-cert-auth=true",
        f"--peer-cert-file={paths['peer_cert']}",
        f"--peer-key-file={paths['peer_key']}",
        f"--peer-trusted-ca-file={paths['peer_ca']}",
        "--peer-client-cert-auth=true",
        f"--quota-backend-bytes={QUOTA_BACKEND_BYTES}",
        "--initial-cluster-token=openshift-etcd",
        "--heartbeat-interval=100",
        "--election-timeout=1000",
        "--snapshot-count=10000",
    ]


def etcd_pod(
    runtime: Runtime, revision: int, host: HostSpec, endpoints: list[str], bootstrap_cluster: str = ""
) -> dict[str, Any]:
    """The etcd static pod: etcdctl, etcd and etcd-metrics containers (READY 3/3 as in the seed)."""
    env = [*etcdctl_env(revision, host, endpoints), _path_env(runtime)]
    others = [e for e in endpoints if e != host.client_url] or endpoints
    etcd = {
        "name": "etcd",
        "image": IMAGE + "etcd",
        "command": [
            runtime.python,
            "-m",
            "lab.pods.etcd_member",
            f"--etcd={runtime.etcd}",
            f"--etcdctl={runtime.etcdctl}",
            f"--name={host.node}",
            f"--peer-url={host.peer_url}",
            f"--endpoints={','.join(others)}",
            f"--bootstrap-cluster={bootstrap_cluster}",
            "--",
            *etcd_flags(revision, host),
        ],
        "env": env,
        "readinessProbe": {"httpGet": {"host": host.ip, "port": ETCD_METRICS_PORT, "path": "/health"}},
    }
    return _pod("etcd", revision, [_sleeper("etcdctl", env), etcd, _sleeper("etcd-metrics")])


def restore_etcd_pod(runtime: Runtime, host: HostSpec) -> dict[str, Any]:
    """The restore-etcd pod of cluster-restore.sh: restore the snapshot as a one-member cluster, run it.

    It uses the certificates of the ``etcd-certs`` folder that the restore script unpacked from the
    backup, since the revision folders of the host may be gone.
    """
    certs = f"{RESOURCES}/etcd-certs/secrets/etcd-all-certs"
    cas = f"{RESOURCES}/etcd-certs/configmaps"
    env = [
        {"name": "ETCDCTL_API", "value": "3"},
        {"name": "ETCDCTL_CACERT", "value": f"{cas}/etcd-serving-ca/ca-bundle.crt"},
        {"name": "ETCDCTL_CERT", "value": f"{certs}/etcd-peer-{host.node}.crt"},
        {"name": "ETCDCTL_KEY", "value": f"{certs}/etcd-peer-{host.node}.key"},
        {"name": "ETCDCTL_ENDPOINTS", "value": host.client_url},
        _path_env(runtime),
    ]
    flags = [
        f"--listen-client-urls={host.client_url}",
        f"--advertise-client-urls={host.client_url}",
        f"--listen-peer-urls={host.peer_url}",
        f"--initial-advertise-peer-urls={host.peer_url}",
        f"--listen-metrics-urls=http://{host.ip}:{ETCD_METRICS_PORT}",
        f"--cert-file={certs}/etcd-serving-{host.node}.crt",
        f"--key-file={certs}/etcd-serving-{host.node}.key",
        f"--trusted-ca-file={cas}/etcd-serving-ca/ca-bundle.crt",
        "--client-cert-auth=true",
        f"--peer-cert-file={certs}/etcd-peer-{host.node}.crt",
        f"--peer-key-file={certs}/etcd-peer-{host.node}.key",
        f"--peer-trusted-ca-file={cas}/etcd-peer-client-ca/ca-bundle.crt",
        "--peer-client-cert-auth=true",
        f"--quota-backend-bytes={QUOTA_BACKEND_BYTES}",
    ]
    container = {
        "name": "etcd",
        "image": IMAGE + "etcd",
        "command": [
            runtime.python,
            "-m",
            "lab.pods.restore_etcd",
            f"--etcd={runtime.etcd}",
            f"--etcdutl={runtime.etcdutl}",
            f"--name={host.node}",
            f"--peer-url={host.peer_url}",
            "--",
            *flags,
        ],
        "env": env,
        "readinessProbe": {"httpGet": {"host": host.ip, "port": ETCD_METRICS_PORT, "path": "/health"}},
    }
    pod = _pod("etcd", 0, [container])
    pod["metadata"]["labels"] = {"app": "etcd", "etcd": "true", "k8s-app": "etcd", "revision": "restore"}
    pod["spec"]["volumes"] = [{"name": "data-dir", "hostPath": {"path": "/var/lib/etcd"}}]
    return pod


def apiserver_secret_paths(revision: int) -> dict[str, str]:
    base = f"{resource_dir('kube-apiserver', revision)}/secrets"
    return {
        "serving_cert": f"{base}/serving-cert/tls.crt",
        "serving_key": f"{base}/serving-cert/tls.key",
        "etcd_client_cert": f"{base}/etcd-client/tls.crt",
        "etcd_client_key": f"{base}/etcd-client/tls.key",
        "etcd_ca": f"{resource_dir('kube-apiserver', revision)}/configmaps/etcd-serving-ca/ca-bundle.crt",
        "tokens": f"{base}/tokens/tokens.csv",
    }


def kube_apiserver_pod(
    runtime: Runtime, revision: int, host: HostSpec, etcd_endpoints: list[str], audit_log: str
) -> dict[str, Any]:
    """The kube-apiserver static pod: the lab's API server, storing everything in etcd."""
    paths = apiserver_secret_paths(revision)
    local_first = sorted(etcd_endpoints, key=lambda e: e != host.client_url)
    container = {
        "name": "kube-apiserver",
        "image": IMAGE + "hyperkube",
        "command": [
            runtime.python,
            "-m",
            "lab.kube.server",
            f"--bind={host.ip}:{API_PORT}",
            f"--etcd-endpoints={','.join(local_first)}",
            f"--etcd-cacert={paths['etcd_ca']}",
            f"--etcd-cert={paths['etcd_client_cert']}",
            f"--etcd-key={paths['etcd_client_key']}",
            f"--tls-cert={paths['serving_cert']}",
            f"--tls-key={paths['serving_key']}",
            f"--token-file={paths['tokens']}",
            f"--audit-log={audit_log}",
        ],
        "env": [{"name": "API_ADDRESS", "value": f"{API_ADDRESS}:{API_PORT}"}],
    }
    return _pod("kube-apiserver", revision, [container, _sleeper("kube-apiserver-cert-syncer")])


def plain_operand_pod(operand: str, revision: int) -> dict[str, Any]:
    """kube-controller-manager and kube-scheduler: present as containers, with no behaviour of their own."""
    return _pod(operand, revision, [_sleeper(operand), _sleeper(f"{operand}-cert-syncer")])


def etcd_client_urls(hosts: list[HostSpec]) -> list[str]:
    return [h.client_url for h in hosts]


__all__ = [
    "ETCD_CLIENT_PORT",
    "OPERANDS",
    "Runtime",
    "etcd_pod",
    "kube_apiserver_pod",
    "manifest_file",
    "plain_operand_pod",
    "resource_dir",
    "restore_etcd_pod",
]
