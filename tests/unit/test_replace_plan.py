"""The replacement planner (pure): what it refuses, and the seed 2.4.2 plan it makes otherwise."""

from __future__ import annotations

import pytest

from runner.procedures.diagnose import State
from runner.procedures.replace import Member, Refused, plan_replacement

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
        (A, State.MACHINE_NOT_RUNNING, A, MEMBERS, "seed 2.4.1"),
        (A, State.UNDETERMINED, A, MEMBERS, "advice"),
    ],
)
def test_what_must_not_be_replaced_is_refused(
    wanted: str, state: State, unhealthy: str | None, members: list[Member], words: str
) -> None:
    with pytest.raises(Refused, match=words):
        _plan(wanted, state, unhealthy, members)
