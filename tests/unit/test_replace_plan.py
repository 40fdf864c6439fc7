"""The replacement planner (pure): what it refuses, and the seed 2.4.2 plan it makes otherwise."""

from __future__ import annotations

import pytest

from runner.procedures.diagnose import State
from runner.procedures.replace import Member, Refused, clean_machine, next_machine_name, plan_replacement

A, B, C = "ip-10-0-1-1.ec2.internal", "ip-10-0-1-2.ec2.internal", "ip-10-0-1-3.ec2.internal"
MEMBERS = [Member("8e4a1f2d3c4b5a69", A), Member("2b1c", B), Member("c0ffee", C)]
IPS = {A: "10.0.1.1", B: "10.0.1.2", C: "10.0.1.3"}


def _plan(wanted: str, state: State = State.POD_CRASHLOOPING, unhealthy: str | None = A, members=MEMBERS):  # type: ignore[no-untyped-def]
    return plan_replacement(
        wanted, state, unhealthy, members, IPS, "etcd-" + B, "single-master-recovery-x", "advice"
    )


@pytest.mark.parametrize("wanted", [A, "8e4a1f2d3c4b5a69"])
def test_a_crashlooping_member_by_name_or_id_gets_the_seed_plan(wanted: str) -> None:
    plan = _plan(wanted)
    assert (plan.procedure, plan.node, plan.ip, plan.member_id) == (
        "2.4.2",
        A,
        "10.0.1.1",
        "8e4a1f2d3c4b5a69",
    )
    commands = plan.commands()
    assert (
        commands[1]
        == "ssh core@10.0.1.1 sudo mv /etc/kubernetes/manifests/etcd-pod.yaml /var/lib/etcd-backup/"
    )
    assert commands[2] == "ssh core@10.0.1.1 sudo mv /var/lib/etcd/ /tmp"
    assert f"oc rsh -n openshift-etcd etcd-{B} etcdctl member remove 8e4a1f2d3c4b5a69" in commands
    assert [c for c in commands if c.startswith("oc delete secret")] == [
        f"oc delete secret -n openshift-etcd {kind}-{A}"
        for kind in ("etcd-peer", "etcd-serving", "etcd-serving-metrics")
    ]
    assert any("single-master-recovery-x" in c for c in commands)


@pytest.mark.parametrize(
    ("wanted", "state", "unhealthy", "members", "words"),
    [
        (B, State.POD_CRASHLOOPING, A, MEMBERS, "is healthy"),
        (A, State.HEALTHY, None, MEMBERS, "is healthy"),
        ("nope", State.POD_CRASHLOOPING, A, MEMBERS, "is not an etcd member"),
        (A, State.QUORUM_LOST, None, MEMBERS, "no quorum"),
        (A, State.API_UNREACHABLE, None, MEMBERS, "no quorum"),
        (
            A,
            State.POD_CRASHLOOPING,
            A,
            [Member("8e4a1f2d3c4b5a69", A), Member("2b1c", B, learner=True)],
            "last voting member",
        ),
        (A, State.MACHINE_NOT_RUNNING, A, MEMBERS, "no machine of openshift-machine-api runs this node"),
        (A, State.UNDETERMINED, A, MEMBERS, "advice"),
    ],
)
def test_what_must_not_be_replaced_is_refused(
    wanted: str, state: State, unhealthy: str | None, members: list[Member], words: str
) -> None:
    with pytest.raises(Refused, match=words):
        _plan(wanted, state, unhealthy, members)


NS = "openshift-machine-api"
MACHINES = {
    "lab-8qw5l-master-0": A,
    "lab-8qw5l-master-1": B,
    "lab-8qw5l-master-2": C,
    "lab-8qw5l-worker-a": "",
}


@pytest.mark.parametrize("state", [State.MACHINE_NOT_RUNNING, State.NODE_NOT_READY])
def test_a_machine_down_or_a_node_not_ready_gets_the_2_4_1_plan(state: State) -> None:
    plan = plan_replacement(A, state, A, MEMBERS, IPS, "etcd-" + B, "single-master-recovery-x", "a", MACHINES)
    assert (plan.procedure, plan.machine, plan.new_machine) == (
        "2.4.1",
        "lab-8qw5l-master-0",
        "lab-8qw5l-master-3",
    )
    commands = plan.commands()
    assert commands[0].endswith("etcdctl member remove 8e4a1f2d3c4b5a69")
    assert "oc delete machine -n openshift-machine-api lab-8qw5l-master-0" in commands
    assert commands.index("oc delete machine -n openshift-machine-api lab-8qw5l-master-0") > 3


def test_the_next_free_machine_index_and_the_seeds_edit_of_the_machine() -> None:
    names = ["lab-master-0", "lab-master-2", "lab-master-7", "other-master-9"]
    assert next_machine_name("lab-master-0", names) == "lab-master-8"
    machine = {
        "apiVersion": "machine.openshift.io/v1beta1",
        "kind": "Machine",
        "metadata": {
            "name": "lab-master-0",
            "namespace": "openshift-machine-api",
            "uid": "u",
            "resourceVersion": "7",
            "labels": {"machine.openshift.io/cluster-api-machine-role": "master"},
        },
        "spec": {"providerID": "aws:///i-0", "providerSpec": {"value": {"instanceType": "m5.xlarge"}}},
        "status": {"phase": "Failed"},
    }
    cleaned = clean_machine(machine, "lab-master-8")
    assert "status" not in cleaned and "providerID" not in cleaned["spec"]
    assert cleaned["spec"]["providerSpec"] == machine["spec"]["providerSpec"]
    assert cleaned["metadata"] == {
        "name": "lab-master-8",
        "namespace": "openshift-machine-api",
        "labels": {"machine.openshift.io/cluster-api-machine-role": "master"},
        "selfLink": f"/apis/machine.openshift.io/v1beta1/namespaces/{NS}/machines/lab-master-8",
    }
    assert machine["metadata"]["name"] == "lab-master-0", "the saved original is left as it was"
