"""The Kubernetes and OpenShift objects of the lab cluster, built as plain dicts (pure).

They mirror what a 4.14 installer-provisioned cluster on AWS holds for the parts the seed touches:
machines with provider status, etcd's per-node TLS secrets, the operator resources with their
conditions, the cluster version and proxy, and the cluster operators.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

from lab.credentials import BOOTSTRAPPER_USER
from lab.pki import KeyPair
from lab.topology import (
    ETCD_NAMESPACE,
    INFRA_ID,
    INSTANCE_TYPE,
    KUBERNETES_VERSION,
    MACHINE_NAMESPACE,
    OPENSHIFT_VERSION,
    REGION,
    HostSpec,
)

NAMESPACES = (
    "default",
    "kube-system",
    "openshift-config",
    "openshift-config-managed",
    ETCD_NAMESPACE,
    "openshift-etcd-operator",
    "openshift-kube-apiserver",
    "openshift-kube-controller-manager",
    "openshift-kube-scheduler",
    MACHINE_NAMESPACE,
    "openshift-machine-config-operator",
)
OPERATOR_RESOURCES = {
    "etcd": ("etcds", "Etcd"),
    "kube-apiserver": ("kubeapiservers", "KubeAPIServer"),
    "kube-controller-manager": ("kubecontrollermanagers", "KubeControllerManager"),
    "kube-scheduler": ("kubeschedulers", "KubeScheduler"),
}
MACHINE_SELF_LINK = "/apis/machine.openshift.io/v1beta1/namespaces/openshift-machine-api/machines/{}"
INSTANCE_STATE_ANNOTATION = "machine.openshift.io/instance-state"


def condition(kind: str, status: str, reason: str = "", message: str = "", at: str = "") -> dict[str, str]:
    cond = {"type": kind, "status": status, "lastTransitionTime": at}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def namespace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name},
        "status": {"phase": "Active"},
    }


def provider_id(host: HostSpec, instance_id: str) -> str:
    return f"aws:///{host.zone}/{instance_id}"


def machine(
    host: HostSpec, instance_id: str, *, state: str, phase: str, node_uid: str = "", at: str = ""
) -> dict[str, Any]:
    """A master Machine as the machine API shows it, ``status`` included."""
    labels = {
        "machine.openshift.io/cluster-api-cluster": INFRA_ID,
        "machine.openshift.io/cluster-api-machine-role": "master",
        "machine.openshift.io/cluster-api-machine-type": "master",
        "machine.openshift.io/instance-type": INSTANCE_TYPE,
        "machine.openshift.io/region": REGION,
        "machine.openshift.io/zone": host.zone,
    }
    return {
        "apiVersion": "machine.openshift.io/v1beta1",
        "kind": "Machine",
        "metadata": {
            "name": host.machine,
            "namespace": MACHINE_NAMESPACE,
            "labels": labels,
            "annotations": {INSTANCE_STATE_ANNOTATION: state},
            "selfLink": MACHINE_SELF_LINK.format(host.machine),
        },
        "spec": {
            "metadata": {},
            "providerID": provider_id(host, instance_id),
            "providerSpec": {"value": provider_spec(host)},
        },
        "status": machine_status(host, instance_id, state=state, phase=phase, node_uid=node_uid, at=at),
    }


def provider_spec(host: HostSpec) -> dict[str, Any]:
    return {
        "apiVersion": "machine.openshift.io/v1beta1",
        "kind": "AWSMachineProviderConfig",
        "instanceType": INSTANCE_TYPE,
        "placement": {"availabilityZone": host.zone, "region": REGION},
        "ami": {"id": "ami-0lab0etcdops0rhcos"},
        "userDataSecret": {"name": "master-user-data"},
    }


def machine_status(
    host: HostSpec, instance_id: str, *, state: str, phase: str, node_uid: str = "", at: str = ""
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "addresses": [
            {"address": host.ip, "type": "InternalIP"},
            {"address": host.node, "type": "InternalDNS"},
            {"address": host.node, "type": "Hostname"},
        ],
        "lastUpdated": at,
        "phase": phase,
        "providerStatus": {
            "apiVersion": "machine.openshift.io/v1beta1",
            "kind": "AWSMachineProviderStatus",
            "instanceId": instance_id,
            "instanceState": state,
            "conditions": [
                {
                    "type": "MachineCreation",
                    "status": "True",
                    "reason": "MachineCreationSucceeded",
                    "message": "machine successfully created",
                    "lastProbeTime": at,
                    "lastTransitionTime": at,
                }
            ],
        },
    }
    if node_uid:
        status["nodeRef"] = {"kind": "Node", "name": host.node, "uid": node_uid}
    return status


def node(host: HostSpec, at: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": host.node,
            "labels": {
                "kubernetes.io/hostname": host.node,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/master": "",
                "node-role.kubernetes.io/control-plane": "",
                "node.kubernetes.io/instance-type": INSTANCE_TYPE,
                "topology.kubernetes.io/region": REGION,
                "topology.kubernetes.io/zone": host.zone,
            },
            "annotations": {"machine.openshift.io/machine": f"{MACHINE_NAMESPACE}/{host.machine}"},
        },
        "spec": {
            "taints": [{"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}],
        },
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": host.ip},
                {"type": "Hostname", "address": host.node},
            ],
            "nodeInfo": node_info(host),
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "conditions": [condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", at)],
        },
    }


def node_info(host: HostSpec) -> dict[str, str]:
    """Every field of NodeSystemInfo: the official client refuses a node that lacks one."""
    machine_id = hashlib.md5(host.node.encode(), usedforsecurity=False).hexdigest()
    return {
        "architecture": "amd64",
        "bootID": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"boot.{host.node}")),
        "containerRuntimeVersion": "cri-o://1.27.1-13.rhaos4.14",
        "kernelVersion": "5.14.0-284.lab.el9_2.x86_64",
        "kubeProxyVersion": KUBERNETES_VERSION,
        "kubeletVersion": KUBERNETES_VERSION,
        "machineID": machine_id,
        "operatingSystem": "linux",
        "osImage": "Red Hat Enterprise Linux CoreOS 414.92.202311061957-0 (Plow)",
        "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, host.node)),
    }


def tls_secret(name: str, pair: KeyPair, node_name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {
            "name": name,
            "namespace": ETCD_NAMESPACE,
            "annotations": {"auth.openshift.io/certificate-hostnames": node_name},
        },
        "data": {
            "tls.crt": base64.b64encode(pair.cert_pem).decode(),
            "tls.key": base64.b64encode(pair.key_pem).decode(),
        },
    }


def secret_pair(secret: dict[str, Any]) -> KeyPair:
    data = secret.get("data") or {}
    return KeyPair(base64.b64decode(data["tls.crt"]), base64.b64decode(data["tls.key"]))


def operator_object(operand: str, revision: int, nodes: list[str], at: str) -> dict[str, Any]:
    kind = OPERATOR_RESOURCES[operand][1]
    status: dict[str, Any] = {
        "latestAvailableRevision": revision,
        "nodeStatuses": [{"nodeName": n, "currentRevision": revision} for n in nodes],
        "conditions": [
            condition(
                "NodeInstallerProgressing",
                "False",
                "AllNodesAtLatestRevision",
                f"{len(nodes)} nodes are at revision {revision}",
                at,
            ),
        ],
    }
    if operand == "etcd":
        status["conditions"].append(
            condition(
                "EtcdMembersAvailable", "True", "EtcdQuorate", f"{len(nodes)} members are available", at
            )
        )
    return {
        "apiVersion": "operator.openshift.io/v1",
        "kind": kind,
        "metadata": {"name": "cluster"},
        "spec": {"managementState": "Managed", "forceRedeploymentReason": ""},
        "status": status,
    }


def cluster_version(cluster_id: str, at: str, installed_at: str) -> dict[str, Any]:
    """The ClusterVersion of a cluster installed at ``installed_at`` (the lab says three days ago, past the
    first certificate rotation, so backups are allowed as on a settled cluster)."""
    image = f"quay.io/openshift-release-dev/ocp-release@sha256:{'0' * 56}lab41412"
    return {
        "apiVersion": "config.openshift.io/v1",
        "kind": "ClusterVersion",
        "metadata": {"name": "version"},
        "spec": {"clusterID": cluster_id, "channel": "stable-4.14"},
        "status": {
            "desired": {"version": OPENSHIFT_VERSION, "image": image},
            "history": [
                {
                    "state": "Completed",
                    "version": OPENSHIFT_VERSION,
                    "image": image,
                    "verified": False,
                    "startedTime": installed_at,
                    "completionTime": installed_at,
                }
            ],
            "observedGeneration": 1,
            "conditions": [
                condition("Available", "True", "", f"Done applying {OPENSHIFT_VERSION}", at),
                condition("Failing", "False", "", "", at),
                condition("Progressing", "False", "", f"Cluster version is {OPENSHIFT_VERSION}", at),
            ],
        },
    }


def proxy() -> dict[str, Any]:
    """The cluster-wide proxy, not enabled (no httpProxy/httpsProxy/noProxy), as on most clusters."""
    return {
        "apiVersion": "config.openshift.io/v1",
        "kind": "Proxy",
        "metadata": {"name": "cluster"},
        "spec": {"trustedCA": {"name": ""}},
        "status": {},
    }


def apiserver_config() -> dict[str, Any]:
    """The cluster's APIServer config: etcd encryption off (``spec.encryption.type`` unset), as installed."""
    return {
        "apiVersion": "config.openshift.io/v1",
        "kind": "APIServer",
        "metadata": {"name": "cluster"},
        "spec": {"audit": {"profile": "Default"}},
        "status": {},
    }


def cluster_operator(name: str, at: str, progressing: bool = False) -> dict[str, Any]:
    return {
        "apiVersion": "config.openshift.io/v1",
        "kind": "ClusterOperator",
        "metadata": {"name": name},
        "spec": {},
        "status": {
            "versions": [{"name": "operator", "version": OPENSHIFT_VERSION}],
            "conditions": [
                condition("Available", "True", "AsExpected", "", at),
                condition("Progressing", "True" if progressing else "False", "AsExpected", "", at),
                condition("Degraded", "False", "AsExpected", "", at),
            ],
        },
    }


def service_account(name: str, ns: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}}


def bootstrapper_identity() -> tuple[str, list[str]]:
    return BOOTSTRAPPER_USER, [
        "system:serviceaccounts",
        "system:serviceaccounts:openshift-machine-config-operator",
        "system:authenticated",
    ]
