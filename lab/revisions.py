"""What one revision of each control-plane operand holds, written onto a host by the installer.

Shared by a new lab (revision 1 everywhere) and by the static pod operators (every later revision).
"""

from __future__ import annotations

from lab.credentials import Credentials
from lab.installer import apiserver_revision_files, etcd_revision_files, install_revision
from lab.manifests import Runtime, etcd_pod, kube_apiserver_pod, plain_operand_pod
from lab.paths import LabPaths
from lab.pki import KeyPair
from lab.topology import HostSpec, initial_cluster


def install_etcd(
    paths: LabPaths,
    runtime: Runtime,
    creds: Credentials,
    host: HostSpec,
    revision: int,
    members: list[HostSpec],
    node_certs: dict[str, dict[str, KeyPair]],
    bootstrap: bool = False,
) -> None:
    endpoints = [m.client_url for m in members]
    cluster = initial_cluster([(m.node, m.peer_url) for m in members]) if bootstrap else ""
    pod = etcd_pod(runtime, revision, host, endpoints, bootstrap_cluster=cluster)
    files = etcd_revision_files(node_certs, creds.etcd_signer.cert_pem)
    install_revision(paths.host(host.name), "etcd", revision, pod, files)


def install_apiserver(
    paths: LabPaths,
    runtime: Runtime,
    creds: Credentials,
    host: HostSpec,
    revision: int,
    members: list[HostSpec],
) -> None:
    pod = kube_apiserver_pod(runtime, revision, host, [m.client_url for m in members], str(paths.audit_log))
    files = apiserver_revision_files(
        creds.apiserver_serving(host),
        creds.etcd_client,
        creds.etcd_signer.cert_pem,
        creds.tokens_csv.read_bytes(),
    )
    install_revision(paths.host(host.name), "kube-apiserver", revision, pod, files)


def install_plain(paths: LabPaths, host: HostSpec, operand: str, revision: int) -> None:
    install_revision(paths.host(host.name), operand, revision, plain_operand_pod(operand, revision), {})
