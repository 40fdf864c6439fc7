"""Creates a fresh lab on disk: credentials, SSH keys, kubeconfig, cluster profile, and three masters
with revision 1 of every control-plane static pod. Nothing is started here; the supervisor does that."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from lab.controllers.kubelets import write_kubelet_cert
from lab.credentials import BOT_USER, Credentials
from lab.hostsetup import kubeconfig_text, provision_host, sync_etcd_certs
from lab.manifests import Runtime
from lab.paths import LabPaths
from lab.pki import new_ssh_key
from lab.revisions import install_apiserver, install_etcd, install_plain
from lab.state import HostRecord, LabState
from lab.topology import API_ADDRESS, API_PORT, CLUSTER_NAME, initial_hosts


def bot_kubeconfig(paths: LabPaths) -> Path:
    """The bot's kubeconfig: the API as the etcdops ServiceAccount (``BOT_USER``), not as admin."""
    return paths.root / "kubeconfig-etcdops"


def cluster_profile(paths: LabPaths) -> dict[str, object]:
    """The clusters file entry for the lab, which the bot loads unchanged (``ETCDOPS_CLUSTERS``). It
    points the bot at its own kubeconfig, so the audit log shows its calls under its own name."""
    return {
        "clusters": [
            {
                "name": CLUSTER_NAME,
                "kubeconfig": str(bot_kubeconfig(paths)),
                "context": CLUSTER_NAME,
                "ssh": {
                    "user": "core",
                    "key": str(paths.ssh_key),
                    "known_hosts": str(paths.known_hosts),
                    "port": 22,
                },
                "backup_store": {"type": "local", "path": str(paths.root / "backups")},
                "default_channel": "#etcd-lab",
                "approvals": {
                    action: {"approvers": 2, "group": "etcd-approvers", "expiry": "30m"}
                    for action in (
                        "member_removal",
                        "secret_deletion",
                        "machine_deletion",
                        "restore",
                        "csr_approval",
                    )
                },
            }
        ]
    }


def create_lab(paths: LabPaths, runtime: Runtime, *, etcd_flavor: str, db_mb: int) -> LabState:
    if paths.root.exists():
        shutil.rmtree(paths.root)
    for folder in (paths.root, paths.ssh_dir, paths.logs, paths.hosts, paths.root / "backups"):
        folder.mkdir(parents=True, exist_ok=True)
    creds = Credentials.create(paths.pki)
    client = new_ssh_key("etcdops-lab")
    paths.ssh_key.write_bytes(client.private_openssh)
    paths.ssh_key.chmod(0o600)
    paths.ssh_key.with_suffix(".pub").write_text(client.public_line + "\n")
    paths.authorized_keys.write_text(client.public_line + "\n")
    paths.kubeconfig.write_text(
        kubeconfig_text(
            f"https://{API_ADDRESS}:{API_PORT}",
            creds.api_ca.cert_pem,
            creds.token("system:admin"),
            CLUSTER_NAME,
        )
    )
    paths.kubeconfig.chmod(0o600)
    bot_kubeconfig(paths).write_text(
        kubeconfig_text(
            f"https://{API_ADDRESS}:{API_PORT}", creds.api_ca.cert_pem, creds.token(BOT_USER), CLUSTER_NAME
        )
    )
    bot_kubeconfig(paths).chmod(0o600)
    paths.cluster_profile.write_text(yaml.safe_dump(cluster_profile(paths), sort_keys=False))

    hosts = initial_hosts()
    node_certs = {h.node: creds.issue_node_certs(h) for h in hosts}
    state = LabState(etcd_flavor=etcd_flavor, db_mb=db_mb)
    for host in hosts:
        provision_host(paths, runtime, host)
        sync_etcd_certs(paths, runtime, creds, host, node_certs)
        write_kubelet_cert(creds, paths.host(host.name), host)
        install_etcd(paths, runtime, creds, host, 1, hosts, node_certs, bootstrap=True)
        install_apiserver(paths, runtime, creds, host, 1, hosts)
        for operand in ("kube-controller-manager", "kube-scheduler"):
            install_plain(paths, host, operand, 1)
        state.hosts.append(HostRecord(index=host.index, ip=host.ip, instance_id=f"i-{host.index:017x}"))
        state.used_octets.append(int(host.ip.rsplit(".", 1)[1]))
    state.save(paths.state_file)
    return state
