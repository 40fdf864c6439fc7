"""The restore planner (pure): what the preflight refuses, which host recovers, and the seed 3.3 plan."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from runner.procedures.restore_plan import (
    OPERATORS,
    Host,
    Refused,
    RestoreFacts,
    RestorePlan,
    choose_recovery_host,
    plan_restore,
    preflight_problems,
    same_backup,
)

A = Host("ip-10-0-1-1.ec2.internal", "10.0.1.1")
B = Host("ip-10-0-1-2.ec2.internal", "10.0.1.2")
C = Host("ip-10-0-1-3.ec2.internal", "10.0.1.3")
MASTERS = (C, A, B)  # deliberately not in name order
SNAPSHOT = "snapshot_2024-05-01_120000.db"
RESOURCES = "static_kuberesources_2024-05-01_120000.tar.gz"

GOOD = RestoreFacts(
    backup_id=12,
    backup_version="4.14.8",
    cluster_version="4.14.8",
    version_source="the API",
    files_problem=None,
    quorum_message=None,
    masters=MASTERS,
    unreachable={},
)


def _problems(override_quorum: bool = False, **changes: Any) -> list[str]:
    return preflight_problems(dataclasses.replace(GOOD, **changes), override_quorum=override_quorum)


# -- preflight_problems -------------------------------------------------------------------------------


@pytest.mark.parametrize("override_quorum", [False, True])
def test_good_facts_have_no_problem(override_quorum: bool) -> None:
    assert preflight_problems(GOOD, override_quorum=override_quorum) == []


def test_a_backup_from_another_z_stream_is_refused_naming_both_versions() -> None:
    [problem] = _problems(backup_version="4.14.7")
    assert "backup #12" in problem
    assert "4.14.7" in problem
    assert "4.14.8" in problem
    assert "same z-stream" in problem
    assert "the API" in problem  # where the cluster's version was read


def test_an_unknown_cluster_version_is_refused_saying_where_it_was_looked_for() -> None:
    [problem] = _problems(cluster_version=None, version_source="no backup recorded it")
    assert "unknown" in problem
    assert "no backup recorded it" in problem
    assert "z-stream" in problem


def test_the_files_problem_is_passed_through_with_what_to_do() -> None:
    [problem] = _problems(files_problem="its snapshot snapshot_x.db is corrupted: bad hash.")
    assert "backup #12" in problem
    assert "its snapshot snapshot_x.db is corrupted: bad hash." in problem
    assert "Pick another backup" in problem


def test_an_unreachable_master_is_named_with_its_node_and_address() -> None:
    [problem] = _problems(unreachable={B.ip: "Permission denied (publickey)"})
    assert B.node in problem
    assert B.ip in problem
    assert "Permission denied (publickey)" in problem
    assert A.node not in problem and C.node not in problem


def test_an_unreachable_address_that_is_no_master_is_not_a_problem() -> None:
    assert _problems(unreachable={"10.9.9.9": "timed out"}) == []


def test_no_known_master_is_refused() -> None:
    [problem] = _problems(masters=())
    assert "no master is known" in problem


def test_quorum_still_intact_points_to_replace_and_the_override() -> None:
    [problem] = _problems(quorum_message="3 members are available")
    assert "3 members are available" in problem
    assert "/etcd replace" in problem
    assert "--override-quorum" in problem


def test_the_override_lets_a_restore_with_quorum_through() -> None:
    assert _problems(override_quorum=True, quorum_message="3 members are available") == []


def test_several_problems_are_all_listed() -> None:
    problems = _problems(
        backup_version="4.13.2",
        files_problem="its static-resources tarball is missing.",
        unreachable={A.ip: "timed out", C.ip: "connection refused"},
        quorum_message="2 of 3 members are available",
    )
    assert len(problems) == 5
    assert sum("same z-stream" in p for p in problems) == 1
    assert sum("Pick another backup" in p for p in problems) == 1
    assert sum(A.node in p and "timed out" in p for p in problems) == 1
    assert sum(C.node in p and "connection refused" in p for p in problems) == 1
    assert sum("--override-quorum" in p for p in problems) == 1


# -- choose_recovery_host -----------------------------------------------------------------------------


def test_the_default_recovery_host_is_the_first_master_by_name() -> None:
    assert choose_recovery_host(MASTERS, None) == A


@pytest.mark.parametrize("wanted", [B.node, B.ip])
def test_the_recovery_host_can_be_named_by_node_or_address(wanted: str) -> None:
    assert choose_recovery_host(MASTERS, wanted) == B


def test_an_unknown_recovery_host_is_refused_listing_the_masters() -> None:
    with pytest.raises(Refused) as caught:
        choose_recovery_host(MASTERS, "ip-10-0-9-9.ec2.internal")
    message = str(caught.value)
    assert "ip-10-0-9-9.ec2.internal" in message
    for host in MASTERS:
        assert host.node in message


def test_no_master_no_recovery_host() -> None:
    with pytest.raises(Refused, match="no master is known"):
        choose_recovery_host((), None)


# -- same_backup --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("snapshot", "resources", "same"),
    [
        (SNAPSHOT, RESOURCES, True),
        (SNAPSHOT, "static_kuberesources_2024-05-01_120001.tar.gz", False),
        (SNAPSHOT, "static_kuberesources_2024-04-30_120000.tar.gz", False),
        (
            "snapshot_2024-05-01_120000__POSSIBLY_DIRTY__.db",
            "static_kuberesources_2024-05-01_120000__POSSIBLY_DIRTY__.tar.gz",
            True,
        ),
        # backup.py pairs a dirty snapshot only with a dirty tarball: one suffix alone is another backup
        ("snapshot_2024-05-01_120000__POSSIBLY_DIRTY__.db", RESOURCES, False),
        (SNAPSHOT, "static_kuberesources_2024-05-01_120000__POSSIBLY_DIRTY__.tar.gz", False),
        (SNAPSHOT, None, False),
        (SNAPSHOT, "", False),
        ("snapshot.db", "static_kuberesources.tar.gz", False),  # no stamp at all: not provably one backup
    ],
)
def test_same_backup(snapshot: str, resources: str | None, same: bool) -> None:
    assert same_backup(snapshot, resources) is same


# -- plan_restore -------------------------------------------------------------------------------------

RUN = "r-abc12"
STAGING = f"/home/core/etcdops-restore/{RUN}"
ASIDE = f"/var/lib/etcdops-aside/{RUN}"


def _plan(recovery: Host = B, stamp: str = "20240501120000") -> RestorePlan:
    return plan_restore(RUN, 12, MASTERS, recovery, SNAPSHOT, RESOURCES, "ab" * 32, stamp)


def _moves(host: Host) -> list[str]:
    return [
        f"ssh core@{host.ip} sudo mv /etc/kubernetes/manifests/etcd-pod.yaml {ASIDE}/",
        f"wait until `crictl ps` on {host.node} shows no etcd container",
        f"ssh core@{host.ip} sudo mv /etc/kubernetes/manifests/kube-apiserver-pod.yaml {ASIDE}/",
        f"wait until `crictl ps` on {host.node} shows no kube-apiserver container",
        f"ssh core@{host.ip} sudo mv /var/lib/etcd {ASIDE}/etcd",
    ]


def test_the_plan_runs_the_seed_steps_in_the_seed_order() -> None:
    plan = _plan(B)
    assert plan.recovery == B
    assert plan.others == (A, C)  # sorted by node name, whatever order the masters came in
    assert (plan.staging, plan.aside) == (STAGING, ASIDE)
    commands = plan.commands()

    assert "copy backup #12" in commands[0]
    assert SNAPSHOT in commands[0] and RESOURCES in commands[0]
    assert f"{B.node}:{STAGING}/" in commands[0]
    assert "SHA-256" in commands[0]

    assert commands[1:6] == _moves(A)
    assert commands[6:11] == _moves(C)
    assert commands[11] == f"ssh core@{B.ip} sudo -E /usr/local/bin/cluster-restore.sh {STAGING}"

    kubelets = commands[12:15]
    assert sorted(kubelets) == sorted(
        f"ssh core@{h.ip} sudo systemctl restart kubelet.service" for h in (A, B, C)
    )
    assert commands[15] == f"wait for the single-member etcd container and pod on {B.node}"

    patches = commands[16:24]
    for i, operator in enumerate(["etcd", "kubeapiserver", "kubecontrollermanager", "kubescheduler"]):
        patch, wait = patches[2 * i], patches[2 * i + 1]
        prefix = f"oc patch {operator} cluster --type=merge -p '"
        assert patch.startswith(prefix) and patch.endswith("'")
        body = json.loads(patch.removeprefix(prefix).removesuffix("'"))
        assert body == {"spec": {"forceRedeploymentReason": plan.reasons[operator]}}
        assert wait == f"wait until {operator} reports AllNodesAtLatestRevision"
    assert commands[24:] == ["wait for three running etcd pods and every member healthy"]


def test_cluster_restore_runs_on_the_recovery_host_only() -> None:
    commands = _plan(C).commands()
    restores = [c for c in commands if "cluster-restore.sh" in c]
    assert restores == [f"ssh core@{C.ip} sudo -E /usr/local/bin/cluster-restore.sh {STAGING}"]
    assert not any(c.startswith(f"ssh core@{C.ip} sudo mv") for c in commands)


@pytest.mark.parametrize("recovery", MASTERS)
def test_the_recovery_host_is_never_among_the_others(recovery: Host) -> None:
    plan = _plan(recovery)
    assert recovery not in plan.others
    assert set(plan.others) | {recovery} == set(MASTERS)
    assert len(plan.others) == 2
    assert plan.all_hosts[0] == recovery
    assert [h.node for h in plan.others] == sorted(h.node for h in plan.others)


def test_each_operator_gets_its_own_reason_and_each_run_new_ones() -> None:
    first, second = _plan(stamp="20240501120000"), _plan(stamp="20240501130000")
    assert set(first.reasons) == set(OPERATORS)
    assert len(set(first.reasons.values())) == len(OPERATORS)
    assert all("20240501120000" in reason for reason in first.reasons.values())
    assert not set(first.reasons.values()) & set(second.reasons.values())
