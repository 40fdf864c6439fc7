"""``etcdops lab heal`` undoes each fault, and faults refuse what they cannot do with a clear message."""

from __future__ import annotations

from tests.lab.helpers import Lab, etcdops, wait_for


def test_heal_restarts_a_stopped_machine_and_repairs_a_crashlooping_member(lab: Lab) -> None:
    etcdops("lab", "fault", "stop-machine", "ip-127-0-0-12.ec2.internal")
    wait_for(
        "the machine to show stopped",
        lambda: "stopped" in lab.kubectl("get", "machines", "-n", "openshift-machine-api", "-o", "wide"),
        30,
    )
    assert "started ip-127-0-0-12.ec2.internal" in etcdops("lab", "heal").stdout
    lab.wait_three_healthy()
    wait_for(
        "every machine running",
        lambda: (
            lab.kubectl("get", "machines", "-n", "openshift-machine-api", "-o", "wide").count(" running") == 3
        ),
        30,
    )

    etcdops("lab", "fault", "crashloop", "master-2")
    wait_for(
        "the member to crash-loop",
        lambda: any(
            "ip-127-0-0-13" in r[0] and r[2] in ("Error", "CrashLoopBackOff") for r in lab.etcd_pods()
        ),
        30,
        0.5,
    )
    assert "repaired etcd's database on ip-127-0-0-13.ec2.internal" in etcdops("lab", "heal").stdout
    lab.wait_three_healthy()
    assert etcdops("lab", "heal").stdout.strip() == "nothing to heal"


def test_faults_explain_bad_targets(lab: Lab) -> None:
    unknown = etcdops("lab", "fault", "stop-machine", "master-9", check=False)
    assert unknown.returncode == 2 and "no lab host is called 'master-9'" in unknown.stderr
    assert "ip-127-0-0-11.ec2.internal" in unknown.stderr
    no_kind = etcdops("lab", "fault", "delete-object", "critical", check=False)
    assert no_kind.returncode == 2 and "KIND/NAME" in no_kind.stderr
    no_ns = etcdops("lab", "fault", "delete-object", "configmap/x", check=False)
    assert no_ns.returncode == 2 and "-n NAMESPACE" in no_ns.stderr
    twice = etcdops("lab", "fault", "stop-machine", "127.0.0.11")
    assert "stopped" in twice.stdout
    again = etcdops("lab", "fault", "stop-machine", "127.0.0.11", check=False)
    assert again.returncode == 2 and "already stopped" in again.stderr
