"""The seed's decision tree (2.2, 2.3) over hand-made facts: each state, in the seed's order of checks."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from runner.procedures.diagnose import (
    DiagnosisFacts,
    MachineFacts,
    NodeFacts,
    State,
    diagnose,
    render_diagnosis,
    unhealthy_members,
)

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
NODES = ("ip-10-0-131-183.ec2.internal", "ip-10-0-164-97.ec2.internal", "ip-10-0-154-204.ec2.internal")
SICK = NODES[0]

HEALTHY = DiagnosisFacts(
    members_status="True",
    members_reason="EtcdQuorate",
    members_message="3 members are available",
    machines=tuple(MachineFacts(f"m-{i}", node, "running") for i, node in enumerate(NODES)),
    nodes=tuple(NodeFacts(node, ready=True, unreachable=False) for node in NODES),
    pods={node: "Running" for node in NODES},
    cert_expiry={node: NOW + dt.timedelta(days=300) for node in NODES},
)
ONE_DOWN = replace(HEALTHY, members_message=f"2 of 3 members are available, {SICK} is unhealthy")


def _machine(state: str) -> tuple[MachineFacts, ...]:
    return tuple(replace(m, instance_state=state) if m.node == SICK else m for m in HEALTHY.machines)


def _node(*, ready: bool, unreachable: bool) -> tuple[NodeFacts, ...]:
    return tuple(NodeFacts(n.name, ready, unreachable) if n.name == SICK else n for n in HEALTHY.nodes)


def test_the_seed_example_message_names_the_member() -> None:
    assert unhealthy_members(f"2 of 3 members are available, {SICK} is unhealthy") == [SICK]
    assert unhealthy_members("1 of 3 members are available, a, b are unhealthy") == ["a", "b"]
    assert unhealthy_members("3 members are available") == []


def test_all_healthy_needs_no_procedure() -> None:
    found = diagnose(HEALTHY, NOW)
    assert found.state is State.HEALTHY and found.member is None and found.procedure is None
    assert "No procedure is needed" in found.advice


UNREACHABLE = replace(ONE_DOWN, nodes=_node(ready=False, unreachable=True))
NOT_READY = replace(ONE_DOWN, nodes=_node(ready=False, unreachable=False))


@pytest.mark.parametrize(
    ("facts", "state", "procedure", "words"),
    [
        (replace(ONE_DOWN, machines=_machine("stopped")), State.MACHINE_NOT_RUNNING, "2.4.1", "stopped"),
        (
            replace(ONE_DOWN, nodes=_node(ready=False, unreachable=True)),
            State.NODE_NOT_READY,
            "2.4.1",
            "unreachable",
        ),
        (
            replace(ONE_DOWN, nodes=_node(ready=False, unreachable=False)),
            State.NODE_NOT_READY,
            "2.4.1",
            "NotReady",
        ),
        (replace(ONE_DOWN, pods={**HEALTHY.pods, SICK: "Error"}), State.POD_CRASHLOOPING, "2.4.2", "Error"),
        (
            replace(ONE_DOWN, pods={**HEALTHY.pods, SICK: "CrashLoopBackOff"}),
            State.POD_CRASHLOOPING,
            "2.4.2",
            "CrashLoopBackOff",
        ),
    ],
)
def test_each_state_leads_to_its_procedure(
    facts: DiagnosisFacts, state: State, procedure: str, words: str
) -> None:
    found = diagnose(facts, NOW)
    assert (found.state, found.member, found.procedure) == (state, SICK, procedure)
    assert words in found.summary and f"`/etcd replace {SICK}`" in found.advice


def test_the_machine_is_checked_before_the_node_and_the_node_before_the_pod() -> None:
    everything = replace(
        ONE_DOWN,
        machines=_machine("stopped"),
        nodes=_node(ready=False, unreachable=True),
        pods={**HEALTHY.pods, SICK: "Error"},
    )
    assert diagnose(everything, NOW).state is State.MACHINE_NOT_RUNNING
    node_and_pod = replace(everything, machines=HEALTHY.machines)
    assert diagnose(node_and_pod, NOW).state is State.NODE_NOT_READY
    only_pod = replace(node_and_pod, nodes=HEALTHY.nodes)
    assert diagnose(only_pod, NOW).state is State.POD_CRASHLOOPING


def test_a_machine_expected_back_soon_needs_nothing_said_plainly() -> None:
    found = diagnose(replace(ONE_DOWN, machines=_machine("stopped")), NOW)
    assert "If you expect it back soon, no procedure is needed" in found.advice


def test_quorum_lost_and_an_unreachable_api_point_to_restore() -> None:
    lost = replace(HEALTHY, members_status="False", members_reason="NoQuorum", members_message="1 of 3 ...")
    for facts, state in (
        (lost, State.QUORUM_LOST),
        (DiagnosisFacts(api_error="refused"), State.API_UNREACHABLE),
    ):
        found = diagnose(facts, NOW)
        assert found.state is state and found.procedure is None and "`/etcd restore`" in found.advice


def test_expired_certificates_point_to_certificate_recovery_not_replacement() -> None:
    expired = replace(
        ONE_DOWN,
        machines=_machine("stopped"),
        cert_expiry={**HEALTHY.cert_expiry, SICK: NOW - dt.timedelta(hours=1)},
    )
    found = diagnose(expired, NOW)
    assert found.state is State.CERTIFICATES_INVALID and found.procedure is None
    assert "recover from expired control plane certificates" in found.advice


def test_an_unhealthy_member_in_no_known_state_is_not_guessed() -> None:
    found = diagnose(ONE_DOWN, NOW)
    assert found.state is State.UNDETERMINED and found.procedure is None
    assert "diagnose again" in found.advice


def test_the_message_shows_the_state_the_procedure_and_the_evidence() -> None:
    text, blocks = render_diagnosis("prod", diagnose(replace(ONE_DOWN, machines=_machine("stopped")), NOW))
    assert text.startswith(":warning: *prod* diagnosis: *machine not running* — seed procedure 2.4.1")
    assert "machine m-0: instanceState stopped" in text
    assert [b["type"] for b in blocks] == ["section", "section", "context"]


def test_a_pod_caught_running_between_two_crashes_is_still_crash_looping() -> None:
    crashed = {SICK: (4, NOW - dt.timedelta(seconds=20))}
    found = diagnose(replace(ONE_DOWN, restarted_after_error=crashed), NOW)
    assert found.state is State.POD_CRASHLOOPING and found.procedure == "2.4.2"
    assert any("restarted 4 times, last exit Error" in line for line in found.evidence)
    long_ago = {SICK: (4, NOW - dt.timedelta(hours=1))}
    assert diagnose(replace(ONE_DOWN, restarted_after_error=long_ago), NOW).state is State.UNDETERMINED
