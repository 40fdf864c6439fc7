"""The lab's signers, node certificates and API tokens, kept as files under ``<lab>/pki``.

Made once by ``lab up``; the supervisor and its controllers load them from disk so that a restarted
supervisor, or a restore, keeps working with the same trust roots.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from lab.pki import KeyPair, issue, new_ca
from lab.topology import API_ADDRESS, BASE_DOMAIN, CLUSTER_NAME, HostSpec

ETCD_CERT_KINDS = ("etcd-peer", "etcd-serving", "etcd-serving-metrics")
ADMIN_USER = "system:admin"
BOOTSTRAPPER_USER = "system:serviceaccount:openshift-machine-config-operator:node-bootstrapper"
# The bot's own persona: the etcdops ServiceAccount of deploy/base, so the audit log tells the bot's calls
# apart from the tests' kubectl and the lab's controllers (both admin), and the lab suite can check them
# against deploy/base/rbac.yaml. The lab authorizes every authenticated user, as it does admin.
BOT_NAMESPACE = "etcdops"
BOT_USER = f"system:serviceaccount:{BOT_NAMESPACE}:etcdops"


@dataclass(frozen=True)
class Credentials:
    root: Path

    def _pair(self, name: str) -> KeyPair:
        return KeyPair.read(self.root / f"{name}.crt", self.root / f"{name}.key")

    @property
    def etcd_signer(self) -> KeyPair:
        return self._pair("etcd-signer")

    @property
    def api_ca(self) -> KeyPair:
        return self._pair("kube-apiserver-ca")

    @property
    def kubelet_signer(self) -> KeyPair:
        return self._pair("kubelet-signer")

    @property
    def etcd_client(self) -> KeyPair:
        return self._pair("etcd-client")

    @property
    def tokens_csv(self) -> Path:
        return self.root / "tokens.csv"

    def token(self, user: str) -> str:
        for line in self.tokens_csv.read_text().splitlines():
            parts = line.split(",")
            if len(parts) >= 2 and parts[1] == user:
                return parts[0]
        raise KeyError(user)

    @classmethod
    def create(cls, root: Path) -> Credentials:
        root.mkdir(parents=True, exist_ok=True)
        creds = cls(root)
        new_ca("etcd-signer").write(root / "etcd-signer.crt", root / "etcd-signer.key")
        new_ca("kube-apiserver-lb-signer").write(
            root / "kube-apiserver-ca.crt", root / "kube-apiserver-ca.key"
        )
        new_ca("kubelet-signer").write(root / "kubelet-signer.crt", root / "kubelet-signer.key")
        issue(creds.etcd_signer, "etcd", organization="etcd", server=False).write(
            root / "etcd-client.crt", root / "etcd-client.key"
        )
        lines = [
            f'{secrets.token_urlsafe(32)},{ADMIN_USER},uid-admin,"system:masters,system:authenticated"',
            f"{secrets.token_urlsafe(32)},{BOOTSTRAPPER_USER},uid-node-bootstrapper,"
            '"system:serviceaccounts,system:serviceaccounts:openshift-machine-config-operator,'
            'system:authenticated"',
            f"{secrets.token_urlsafe(32)},{BOT_USER},uid-etcdops,"
            f'"system:serviceaccounts,system:serviceaccounts:{BOT_NAMESPACE},system:authenticated"',
        ]
        creds.tokens_csv.write_text("\n".join(lines) + "\n")
        creds.tokens_csv.chmod(0o600)
        return creds

    def node_certs(self, node: str) -> dict[str, KeyPair]:
        """The peer, serving and metrics certificates of a node, as in its three etcd secrets."""
        folder = self.root / "nodes" / node
        return {
            kind: KeyPair.read(folder / f"{kind}.crt", folder / f"{kind}.key") for kind in ETCD_CERT_KINDS
        }

    def has_node_certs(self, node: str) -> bool:
        return (self.root / "nodes" / node / "etcd-peer.crt").exists()

    def issue_node_certs(self, host: HostSpec) -> dict[str, KeyPair]:
        """New etcd certificates for a node, as the etcd operator's cert signer makes them."""
        folder = self.root / "nodes" / host.node
        ips, dns = [host.ip, "127.0.0.1"], [host.node, "localhost"]
        pairs = {
            "etcd-peer": issue(
                self.etcd_signer,
                f"system:etcd-peer:{host.node}",
                ips=ips,
                dns=dns,
                organization="system:etcd-peers",
            ),
            "etcd-serving": issue(
                self.etcd_signer,
                f"system:etcd-server:{host.node}",
                ips=ips,
                dns=dns,
                organization="system:etcd-servers",
            ),
            "etcd-serving-metrics": issue(
                self.etcd_signer,
                f"system:etcd-metric:{host.node}",
                ips=ips,
                dns=dns,
                organization="system:etcd-metrics",
            ),
        }
        for kind, pair in pairs.items():
            pair.write(folder / f"{kind}.crt", folder / f"{kind}.key")
        return pairs

    def store_node_certs(self, node: str, pairs: dict[str, KeyPair]) -> None:
        folder = self.root / "nodes" / node
        for kind, pair in pairs.items():
            pair.write(folder / f"{kind}.crt", folder / f"{kind}.key")

    def apiserver_serving(self, host: HostSpec) -> KeyPair:
        return issue(
            self.api_ca,
            "kube-apiserver",
            ips=[API_ADDRESS, host.ip, "127.0.0.1"],
            dns=[f"api.{CLUSTER_NAME}.{BASE_DOMAIN}", f"api-int.{CLUSTER_NAME}.{BASE_DOMAIN}", "localhost"],
            client=False,
        )
