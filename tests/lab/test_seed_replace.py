"""Seed 2.2-2.4, by hand: identify the unhealthy member, determine its state, replace it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.lab.helpers import ETCD_NS, MACHINE_NS, Lab, etcdops, node_ip, wait_for

VICTIM = "ip-127-0-0-11.ec2.internal"


def _unhealthy_member(lab: Lab) -> str:
    def named() -> str | None:
        message = lab.condition("etcd", "EtcdMembersAvailable")
        return message if "is unhealthy" in message else None

    message = wait_for("EtcdMembersAvailable to name the unhealthy member", named)
    match = re.fullmatch(r"2 of 3 members are available, (\S+) is unhealthy", message)
    assert match, message
    return match.group(1)


def _remove_member(lab: Lab, node: str) -> None:
    pod = lab.healthy_pod(avoid_node=node)
    table = lab.etcdctl(pod, "member", "list", "-w", "table")
    row = next(line for line in table.splitlines() if node in line)
    member_id = row.split("|")[1].strip()
    assert re.fullmatch(r"[0-9a-f]{16}", member_id)
    removed = lab.etcdctl(pod, "member", "remove", member_id)
    assert re.match(rf"Member {member_id} removed from cluster [0-9a-f]+", removed)
    assert node not in lab.etcdctl(pod, "member", "list", "-w", "table")


def _delete_secrets(lab: Lab, node: str) -> None:
    listed = [
        line.split() for line in lab.kubectl("get", "secrets", "-n", ETCD_NS).splitlines() if node in line
    ]
    assert sorted(r[0] for r in listed) == sorted(
        [f"etcd-peer-{node}", f"etcd-serving-{node}", f"etcd-serving-metrics-{node}"]
    )
    assert all(r[1] == "kubernetes.io/tls" and r[2] == "2" for r in listed)
    for kind in ("etcd-peer", "etcd-serving", "etcd-serving-metrics"):
        lab.kubectl("delete", "secret", "-n", ETCD_NS, f"{kind}-{node}")


def test_replace_member_whose_machine_is_not_running(lab: Lab, tmp_path: Path) -> None:
    etcdops("lab", "fault", "stop-machine", VICTIM)
    node = _unhealthy_member(lab)
    assert node == VICTIM

    # 2.3: the machine is not running (the machine API reports it within a moment)
    def machine_states() -> str | None:
        states = lab.kubectl(
            "get",
            "machines",
            "-A",
            '-ojsonpath={range .items[*]}{@.status.nodeRef.name}{"\\t"}'
            '{@.status.providerStatus.instanceState}{"\\n"}',
        )
        return states if f"{VICTIM}\tstopped" in states else None

    wait_for("the machine to show stopped", machine_states, 30, 0.5)
    wait_for(
        "the unreachable taint",
        lambda: (
            "node.kubernetes.io/unreachable"
            in lab.kubectl(
                "get",
                "nodes",
                "-o",
                'jsonpath={range .items[*]}{"\\n"}{.metadata.name}{"\\t"}{range .spec.taints[*]}{.key}{" "}',
            )
        ),
    )
    assert re.search(
        rf"{VICTIM}\s+NotReady\s+control-plane,master",
        lab.kubectl("get", "nodes", "-l", "node-role.kubernetes.io/master"),
    )
    # 2.4.1: remove the member, its secrets, and replace the machine
    _remove_member(lab, VICTIM)
    _delete_secrets(lab, VICTIM)
    wide = lab.kubectl("get", "machines", "-n", MACHINE_NS, "-o", "wide")
    row = next(line.split() for line in wide.splitlines() if VICTIM in line)
    old_machine = row[0]
    assert row[-1] == "stopped" and row[-3] == VICTIM
    machine = yaml.safe_load(lab.kubectl("get", "machine", old_machine, "-n", MACHINE_NS, "-o", "yaml"))
    del machine["status"]
    del machine["spec"]["providerID"]
    new_name = re.sub(r"-master-\d+$", "-master-3", old_machine)
    machine["metadata"]["name"] = new_name
    machine["metadata"]["selfLink"] = (
        f"/apis/machine.openshift.io/v1beta1/namespaces/{MACHINE_NS}/machines/{new_name}"
    )
    for volatile in ("uid", "resourceVersion", "creationTimestamp", "generation"):
        machine["metadata"].pop(volatile, None)
    new_file = tmp_path / "new-master-machine.yaml"
    new_file.write_text(yaml.safe_dump(machine))
    lab.kubectl("delete", "machine", "-n", MACHINE_NS, old_machine, timeout=60)
    assert old_machine not in lab.kubectl("get", "machines", "-n", MACHINE_NS, "-o", "wide")
    lab.kubectl("apply", "-f", str(new_file))
    wait_for(
        "the new machine to be Provisioning",
        lambda: re.search(
            rf"{new_name}\s+Provisioning", lab.kubectl("get", "machines", "-n", MACHINE_NS, "-o", "wide")
        ),
        20,
        0.3,
    )
    wait_for(
        "the new machine to be Running",
        lambda: re.search(
            rf"{new_name}\s+Running", lab.kubectl("get", "machines", "-n", MACHINE_NS, "-o", "wide")
        ),
        60,
    )
    new_node = next(
        line.split()
        for line in lab.kubectl("get", "machines", "-n", MACHINE_NS, "-o", "wide").splitlines()
        if new_name in line
    )[-3]
    assert new_node != VICTIM and node_ip(new_node) == "127.0.0.14"
    lab.wait_three_healthy(timeout=180)
    pods = " ".join(r[0] for r in lab.etcd_pods())
    assert f"etcd-{new_node}" in pods and VICTIM not in pods
    health = lab.etcdctl(lab.healthy_pod(), "endpoint", "health", "--cluster")
    assert "https://127.0.0.14:2379 is healthy" in health
    lab.wait_members_available()
    # the new host is a real host: reachable over SSH with its own verified host key
    assert new_node in lab.ssh("127.0.0.14", "hostname")


def test_replace_member_whose_etcd_pod_is_crashlooping(lab: Lab) -> None:
    etcdops("lab", "fault", "crashloop", VICTIM)
    node = _unhealthy_member(lab)
    assert node == VICTIM
    nodes = lab.kubectl("get", "nodes", "-l", "node-role.kubernetes.io/master")
    assert nodes.count(" Ready ") == 3

    def crashlooping() -> list[str] | None:
        row = next((r for r in lab.etcd_pods() if VICTIM in r[0]), None)
        return row if row and row[2] in ("Error", "CrashLoopBackOff") and int(row[3]) >= 2 else None

    first = wait_for("the etcd pod to crash-loop", crashlooping, 60, 0.5)

    def rising() -> list[str] | None:
        row = crashlooping()
        return row if row and int(row[3]) > int(first[3]) else None

    later = wait_for("restarts to rise", rising, 60, 0.5)
    assert later[1] == "2/3"
    # 2.4.2: stop the crash-looping pod and move its data aside, on the node
    ip = node_ip(VICTIM)
    lab.ssh(ip, "sudo mkdir /var/lib/etcd-backup")
    lab.ssh(ip, "sudo mv /etc/kubernetes/manifests/etcd-pod.yaml /var/lib/etcd-backup/")
    lab.ssh(ip, "sudo mv /var/lib/etcd/ /tmp")
    _remove_member(lab, VICTIM)
    _delete_secrets(lab, VICTIM)
    before = lab.force_redeployment("etcd", "single-master-recovery")
    lab.wait_three_healthy(timeout=180)
    health = lab.etcdctl(lab.healthy_pod(), "endpoint", "health", "--cluster")
    assert f"https://{ip}:2379 is healthy" in health
    lab.wait_members_available()
    lab.wait_latest_revision("etcd", above=before)
