"""``/etcd diagnose`` against the lab, through the local Slack: all healthy, a stopped machine (2.4.1),
then a second member crash-looping, which costs the quorum (restore); and a crash-looping pod (2.4.2)."""

from __future__ import annotations

from collections.abc import Callable

from lab.slack import SlackDriver
from tests.lab.botkit import ask
from tests.lab.helpers import Lab, etcdops, wait_for

DIAGNOSIS = "diagnosis:"


def _diagnosis(bot: SlackDriver, user: str, wanted: str) -> Callable[[], str | None]:
    """Ask for a diagnosis; its text once it mentions ``wanted`` (the lab's operators need a moment)."""

    def probe() -> str | None:
        text = ask(bot, user, "diagnose", DIAGNOSIS).text
        return text if wanted in text else None

    return probe


def test_diagnose_healthy_then_a_stopped_machine_then_lost_quorum(lab: Lab, bot: SlackDriver) -> None:
    healthy = ask(bot, "alice", "diagnose", DIAGNOSIS)
    assert healthy.text.startswith(":large_green_circle: *lab* diagnosis: *healthy*")
    assert "No procedure is needed" in healthy.text

    etcdops("lab", "fault", "stop-machine", "ip-127-0-0-11.ec2.internal")
    wait_for(
        "the operator to call the member unhealthy",
        lambda: "2 of 3" in lab.condition("etcd", "EtcdMembersAvailable"),
        timeout=60,
    )
    # The machine API reconciles on its own clock, like a cloud's: the node may turn NotReady first.
    state = "jsonpath={.status.providerStatus.instanceState}"
    wait_for(
        "the machine API to see the instance stopped",
        lambda: (
            lab.kubectl("get", "machine", "-n", "openshift-machine-api", "lab-8qw5l-master-0", "-o", state)
            == "stopped"
        ),
        timeout=60,
    )
    stopped = ask(bot, "bob", "diagnose", DIAGNOSIS)
    assert stopped.text.startswith(":warning: *lab* diagnosis: *machine not running* — seed procedure 2.4.1")
    assert (
        "ip-127-0-0-11.ec2.internal is unhealthy: its machine lab-8qw5l-master-0 is not running"
        in stopped.text
    )
    assert "`/etcd replace ip-127-0-0-11.ec2.internal`" in stopped.text
    assert "If you expect it back soon, no procedure is needed" in stopped.text

    etcdops("lab", "fault", "crashloop", "ip-127-0-0-12.ec2.internal")
    lost = wait_for("the diagnosis to see the quorum gone", _diagnosis(bot, "carol", "restore"), 90, 2)
    assert "*quorum lost*" in lost or "*API unreachable*" in lost
    assert "`/etcd restore`" in lost and "/etcd replace" not in lost


def test_diagnose_a_crashlooping_member(lab: Lab, bot: SlackDriver) -> None:
    etcdops("lab", "fault", "crashloop", "ip-127-0-0-13.ec2.internal")
    found = wait_for("the pod to crash-loop", _diagnosis(bot, "alice", "2.4.2"), 90, 2)
    assert found.startswith(":warning: *lab* diagnosis: *etcd pod crash-looping* — seed procedure 2.4.2")
    assert "ip-127-0-0-13.ec2.internal is unhealthy: its etcd pod is crash-looping" in found
    assert "machine lab-8qw5l-master-2: instanceState running" in found
    assert "node ip-127-0-0-13.ec2.internal: Ready" in found
