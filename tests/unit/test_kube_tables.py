from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lab.kube.resources import default_registry
from lab.kube.tables import build_table, column_names, human_duration, printer_for

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
REG = default_registry()


def ts(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def row(plural: str, obj: dict[str, Any]) -> list[Any]:
    return printer_for(REG.find(plural)).row(obj, NOW)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (130, "2m10s"),
        (47 * 60, "47m"),
        (122 * 60, "122m"),
        (3 * 3600 + 37 * 60, "3h37m"),
        (6 * 3600, "6h"),
        (9 * 3600 + 59, "9h"),
        (50 * 3600, "2d2h"),
        (48 * 3600, "2d"),
        (10 * 86400, "10d"),
        (3 * 365 * 86400 + 86400, "3y1d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def _cs(
    name: str, *, ready: bool = True, restarts: int = 0, state: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    return {"name": name, "ready": ready, "restartCount": restarts, "state": state or {"running": {}}} | extra


def _pod(statuses: list[dict[str, Any]], **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "etcd-m0", "creationTimestamp": ts(hours=6, minutes=9)},
        "spec": {"nodeName": "m0", "containers": [{"name": s["name"]} for s in statuses]},
        "status": {"phase": "Running", "podIP": "10.0.0.1", "containerStatuses": statuses} | status,
    }


def test_pod_rows_follow_kubectl() -> None:
    healthy = _pod([_cs("etcdctl"), _cs("etcd"), _cs("etcd-metrics")])
    assert row("pods", healthy) == [
        "etcd-m0",
        "3/3",
        "Running",
        "0",
        "6h9m",
        "10.0.0.1",
        "m0",
        "<none>",
        "<none>",
    ]

    error = {"terminated": {"exitCode": 1, "reason": "Error"}}
    last = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ts(minutes=2)}}
    crashed = _pod(
        [
            _cs("etcdctl"),
            _cs("etcd", ready=False, restarts=7, state=error, lastState=last),
            _cs("etcd-metrics"),
        ]
    )
    assert row("pods", crashed)[:4] == ["etcd-m0", "2/3", "Error", "7 (2m ago)"]

    backoff = {"waiting": {"reason": "CrashLoopBackOff"}}
    looping = _pod([_cs("etcd", ready=False, restarts=3, state=backoff)])
    assert row("pods", looping)[1:4] == ["0/1", "CrashLoopBackOff", "3"]  # no finishedAt: no "ago"

    no_reason = _pod([_cs("etcd", ready=False, state={"terminated": {"exitCode": 137, "signal": 9}})])
    assert row("pods", no_reason)[2] == "Signal:9"
    exit_code = _pod([_cs("etcd", ready=False, state={"terminated": {"exitCode": 2}})])
    assert row("pods", exit_code)[2] == "ExitCode:2"

    pending = {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c"}]},
        "status": {"phase": "Pending"},
    }
    assert row("pods", pending)[1:3] == ["0/1", "Pending"]
    terminating = healthy | {"metadata": healthy["metadata"] | {"deletionTimestamp": ts(seconds=1)}}
    assert row("pods", terminating)[2] == "Terminating"


def test_pod_init_containers_and_gates() -> None:
    pod = _pod([_cs("etcd", ready=False, state={"waiting": {"reason": "PodInitializing"}})])
    pod["spec"]["initContainers"] = [{"name": "setup"}, {"name": "ensure-env"}]
    pod["status"]["initContainerStatuses"] = [
        {"name": "setup", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
        {"name": "ensure-env", "restartCount": 1, "state": {"running": {}}},
    ]
    assert row("pods", pod)[1:4] == ["0/1", "Init:1/2", "1"]
    pod["status"]["initContainerStatuses"][1]["state"] = {"terminated": {"exitCode": 1, "reason": "Error"}}
    assert row("pods", pod)[2] == "Init:Error"
    pod["status"]["initContainerStatuses"][1]["state"] = {"terminated": {"exitCode": 0}}
    assert row("pods", pod)[2] == "PodInitializing"

    gated = _pod([_cs("c")])
    gated["spec"]["readinessGates"] = [{"conditionType": "a"}, {"conditionType": "b"}]
    gated["status"]["conditions"] = [{"type": "a", "status": "True"}, {"type": "b", "status": "False"}]
    assert row("pods", gated)[-1] == "1/2"


def _node(ready: str | None, **spec: Any) -> dict[str, Any]:
    conditions = [] if ready is None else [{"type": "Ready", "status": ready}]
    return {
        "metadata": {
            "name": "ip-10-0-131-183.ec2.internal",
            "creationTimestamp": ts(minutes=122),
            "labels": {"node-role.kubernetes.io/master": "", "node-role.kubernetes.io/control-plane": ""},
        },
        "spec": spec,
        "status": {
            "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": "10.0.131.183"}],
            "nodeInfo": {"kubeletVersion": "v1.17.1", "osImage": "RHCOS"},
        },
    }


def test_node_rows() -> None:
    assert row("nodes", _node("True")) == [
        "ip-10-0-131-183.ec2.internal",
        "Ready",
        "control-plane,master",
        "122m",
        "v1.17.1",
        "10.0.131.183",
        "<none>",
        "RHCOS",
        "<unknown>",
        "<unknown>",
    ]
    assert row("nodes", _node("False"))[1] == "NotReady"
    assert row("nodes", _node("Unknown"))[1] == "NotReady"
    assert row("nodes", _node(None))[1] == "Unknown"
    assert row("nodes", _node("True", unschedulable=True))[1] == "Ready,SchedulingDisabled"
    plain = _node("True")
    plain["metadata"]["labels"] = {"kubernetes.io/role": "worker"}
    assert row("nodes", plain)[2] == "worker"
    plain["metadata"]["labels"] = {}
    assert row("nodes", plain)[2] == "<none>"


def test_machine_rows_use_printer_columns() -> None:
    machine = {
        "metadata": {
            "name": "clustername-8qw5l-master-0",
            "creationTimestamp": ts(hours=3, minutes=37),
            "labels": {
                "machine.openshift.io/instance-type": "m4.xlarge",
                "machine.openshift.io/region": "us-east-1",
                "machine.openshift.io/zone": "us-east-1a",
            },
            "annotations": {"machine.openshift.io/instance-state": "stopped"},
        },
        "spec": {"providerID": "aws:///us-east-1a/i-0ec2782f8287dfb7e"},
        "status": {"phase": "Running", "nodeRef": {"name": "ip-10-0-131-183.ec2.internal"}},
    }
    assert row("machines", machine) == [
        "clustername-8qw5l-master-0",
        "Running",
        "m4.xlarge",
        "us-east-1",
        "us-east-1a",
        "3h37m",
        "ip-10-0-131-183.ec2.internal",
        "aws:///us-east-1a/i-0ec2782f8287dfb7e",
        "stopped",
    ]
    new = {"metadata": {"name": "m3", "creationTimestamp": ts(seconds=85)}}
    assert row("machines", new) == ["m3", None, None, None, None, "85s", None, None, None]
    assert column_names(REG.find("machines")) == ["NAME", "PHASE", "TYPE", "REGION", "ZONE", "AGE"]
    assert column_names(REG.find("machines"), wide=True)[6:] == ["NODE", "PROVIDERID", "STATE"]


def test_csr_and_simple_rows() -> None:
    csr: dict[str, Any] = {
        "metadata": {"name": "csr-abc", "creationTimestamp": ts(minutes=5)},
        "spec": {"signerName": "kubernetes.io/kube-apiserver-client-kubelet", "username": "system:node:m0"},
    }
    assert row("csr", csr) == [
        "csr-abc",
        "5m",
        "kubernetes.io/kube-apiserver-client-kubelet",
        "system:node:m0",
        "<none>",
        "Pending",
    ]
    csr["spec"]["expirationSeconds"] = 3600
    csr["status"] = {"conditions": [{"type": "Approved", "status": "True"}]}
    assert row("csr", csr)[4:] == ["60m", "Approved"]
    csr["status"]["certificate"] = "Y2VydA=="
    assert row("csr", csr)[5] == "Approved,Issued"
    csr["status"]["conditions"].append({"type": "Denied"})
    assert row("csr", csr)[5] == "Denied,Issued"
    del csr["status"]["certificate"]
    csr["status"]["conditions"] = [{"type": "Approved"}, {"type": "Failed"}]
    assert row("csr", csr)[5] == "Approved,Failed"

    secret = {
        "metadata": {"name": "s", "creationTimestamp": ts(minutes=47)},
        "type": "kubernetes.io/tls",
        "data": {"a": "", "b": ""},
    }
    assert row("secrets", secret) == ["s", "kubernetes.io/tls", 2, "47m"]
    cm = {
        "metadata": {"name": "c", "creationTimestamp": ts(seconds=3)},
        "data": {"a": ""},
        "binaryData": {"b": ""},
    }
    assert row("configmaps", cm) == ["c", 2, "3s"]
    ns = {
        "metadata": {"name": "openshift-etcd", "creationTimestamp": ts(hours=9)},
        "status": {"phase": "Active"},
    }
    assert row("namespaces", ns) == ["openshift-etcd", "Active", "9h"]
    assert row("etcds", {"metadata": {"name": "cluster", "creationTimestamp": ts(days=3)}}) == [
        "cluster",
        "3d",
    ]
    assert column_names(REG.find("etcds")) == ["NAME", "AGE"]


def test_openshift_config_rows() -> None:
    since = ts(hours=5)
    cv = {
        "metadata": {"name": "version"},
        "status": {
            "history": [
                {"state": "Partial", "version": "4.15.0"},
                {"state": "Completed", "version": "4.14.8"},
            ],
            "conditions": [
                {"type": "Available", "status": "True"},
                {"type": "Progressing", "status": "True", "lastTransitionTime": since, "message": "Working"},
            ],
        },
    }
    assert row("clusterversions", cv) == ["version", "4.14.8", "True", "True", "5h", "Working"]
    co = {
        "metadata": {"name": "etcd"},
        "status": {
            "versions": [{"name": "raw-internal", "version": "x"}, {"name": "operator", "version": "4.14.8"}],
            "conditions": [
                {"type": "Available", "status": "True", "lastTransitionTime": since},
                {"type": "Degraded", "status": "True", "message": "EtcdMembersDegraded: 2 of 3 members"},
            ],
        },
    }
    assert row("co", co) == [
        "etcd",
        "4.14.8",
        "True",
        None,
        "True",
        "5h",
        "EtcdMembersDegraded: 2 of 3 members",
    ]


def test_event_rows() -> None:
    event = {
        "metadata": {"name": "csr.123"},
        "type": "Normal",
        "reason": "Approved",
        "involvedObject": {"kind": "CertificateSigningRequest", "name": "csr-abc"},
        "source": {"component": "kubectl", "host": "m0"},
        "message": "approved ",
        "lastTimestamp": ts(minutes=3),
        "firstTimestamp": ts(minutes=4),
        "count": 2,
    }
    assert row("events", event) == [
        "3m",
        "Normal",
        "Approved",
        "certificatesigningrequest/csr-abc",
        "",
        "kubectl, m0",
        "approved",
        "4m",
        2,
        "csr.123",
    ]


def test_table_shape() -> None:
    res = REG.find("pods")
    pod = _pod([_cs("c")])
    pod["metadata"]["resourceVersion"] = "12"
    table = build_table(res, [pod], NOW, resource_version="40")
    assert (table["kind"], table["apiVersion"], table["metadata"]) == (
        "Table",
        "meta.k8s.io/v1",
        {"resourceVersion": "40"},
    )
    names = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert names[:5] == [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0)]
    assert all(priority == 1 for _, priority in names[5:])
    assert table["columnDefinitions"][0]["format"] == "name"
    (only,) = table["rows"]
    assert only["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": pod["metadata"],
    }
    assert "object" not in build_table(res, [pod], NOW, include_object="None")["rows"][0]
    full = build_table(res, [pod], NOW, include_object="Object")["rows"][0]["object"]
    assert full["kind"] == "Pod" and full["spec"] == pod["spec"]
    assert "columnDefinitions" not in build_table(res, [pod], NOW, with_columns=False)
