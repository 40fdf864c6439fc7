"""Names and addresses of the lab's control plane, derived from a host's index.

Everything here is pure so that the supervisor, the controllers, the host tools and the tests agree on
one naming scheme without asking each other. Nodes are named the way the seed's AWS nodes are
(``ip-10-0-131-183.ec2.internal``) so that every command of the seed reads naturally in the lab.
"""

from __future__ import annotations

from dataclasses import dataclass

CLUSTER_NAME = "lab"
INFRA_ID = "lab-8qw5l"
BASE_DOMAIN = "lab.example.com"
OPENSHIFT_VERSION = "4.14.12"
KUBERNETES_VERSION = "v1.27.10+28ed2d7"
API_ADDRESS = "127.0.0.10"
API_PORT = 6443
FIRST_HOST_OCTET = 11
INITIAL_MASTERS = 3
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
REGION = "us-east-1"
INSTANCE_TYPE = "m6i.xlarge"

ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
ETCD_METRICS_PORT = 9978
KUBELET_PORT = 10250
SSH_PORT = 22

ETCD_NAMESPACE = "openshift-etcd"
MACHINE_NAMESPACE = "openshift-machine-api"


@dataclass(frozen=True)
class HostSpec:
    """One master: the machine index decides its name, and its address decides its node name."""

    index: int
    ip: str

    @property
    def name(self) -> str:
        """The lab's short name for the host, also its folder under ``hosts/``."""
        return f"master-{self.index}"

    @property
    def machine(self) -> str:
        return f"{INFRA_ID}-master-{self.index}"

    @property
    def node(self) -> str:
        return "ip-" + self.ip.replace(".", "-") + ".ec2.internal"

    @property
    def zone(self) -> str:
        return ZONES[self.index % len(ZONES)]

    @property
    def peer_url(self) -> str:
        return f"https://{self.ip}:{ETCD_PEER_PORT}"

    @property
    def client_url(self) -> str:
        return f"https://{self.ip}:{ETCD_CLIENT_PORT}"

    @property
    def kubelet_url(self) -> str:
        return f"http://{self.ip}:{KUBELET_PORT}"

    @property
    def apiserver_address(self) -> str:
        return f"{self.ip}:{API_PORT}"


def initial_hosts() -> list[HostSpec]:
    """The three masters a fresh lab starts with, at 127.0.0.11-13."""
    return [HostSpec(index=i, ip=f"127.0.0.{FIRST_HOST_OCTET + i}") for i in range(INITIAL_MASTERS)]


def next_host(existing: list[HostSpec], ever_used_octets: set[int]) -> HostSpec:
    """The host a new master machine gets: the next machine index and an address never used before.

    A replacement machine in the seed gets a new address (and so a new node name); reusing the removed
    host's address would make the old and the new node indistinguishable in every listing.
    """
    index = max((h.index for h in existing), default=-1) + 1
    used = ever_used_octets | {int(h.ip.rsplit(".", 1)[1]) for h in existing}
    octet = max(used, default=FIRST_HOST_OCTET - 1) + 1
    if octet > 254:
        raise ValueError("the lab has used every address of 127.0.0.0/24")
    return HostSpec(index=index, ip=f"127.0.0.{octet}")


def host_from_node(node: str) -> HostSpec | None:
    """Parse a node name back to its address (the index is unknown from the name alone)."""
    prefix, suffix = "ip-", ".ec2.internal"
    if not (node.startswith(prefix) and node.endswith(suffix)):
        return None
    ip = node[len(prefix) : -len(suffix)].replace("-", ".")
    return HostSpec(index=-1, ip=ip)


def initial_cluster(members: list[tuple[str, str]]) -> str:
    """etcd's ``--initial-cluster`` value from (name, peer URL) pairs."""
    return ",".join(f"{name}={url}" for name, url in members)
