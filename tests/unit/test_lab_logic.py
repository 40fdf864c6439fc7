"""The lab's pure logic: names and addresses, the operators' condition messages, crictl's table,
an etcd member finding itself in the member list, host paths."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from lab.controllers.etcd_operator import members_available_condition
from lab.controllers.static_pods import progressing_condition, set_condition
from lab.etcdclient import Member
from lab.hostagent.namespace import host_passwd
from lab.installer import current_revision, write_manifest
from lab.manifests import Runtime, etcd_pod
from lab.paths import HostPaths
from lab.pods.etcd_member import Refuse, Start, Wait, decide, existing_cluster, find_self
from lab.tools.crictl import humanize, render_ps, select
from lab.topology import HostSpec, host_from_node, initial_hosts, next_host

RUNTIME = Runtime(python="/venv/bin/python", etcd="/bin/etcd", etcdctl="/bin/etcdctl", etcdutl="/bin/etcdutl")


def test_hosts_are_named_like_the_seeds_nodes() -> None:
    hosts = initial_hosts()
    assert [h.ip for h in hosts] == ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
    assert hosts[0].node == "ip-127-0-0-11.ec2.internal"
    assert hosts[2].machine == "lab-8qw5l-master-2"
    assert host_from_node("ip-127-0-0-13.ec2.internal") == HostSpec(index=-1, ip="127.0.0.13")
    assert host_from_node("master-0") is None


def test_a_replacement_machine_never_reuses_an_address() -> None:
    remaining = initial_hosts()[1:]
    new = next_host(remaining, {11, 12, 13})
    assert (new.index, new.ip) == (3, "127.0.0.14")
    assert next_host(remaining, {11, 12, 13, 14}).ip == "127.0.0.15"


def _member(mid: int, name: str, ip: str, learner: bool = False) -> Member:
    return Member(
        id=mid,
        name=name,
        peer_urls=(f"https://{ip}:2380",),
        client_urls=(f"https://{ip}:2379",),
        is_learner=learner,
    )


def test_members_available_speaks_like_the_seed() -> None:
    members = [_member(1, "ip-a", "10.0.0.1"), _member(2, "ip-b", "10.0.0.2"), _member(3, "ip-c", "10.0.0.3")]
    all_good = members_available_condition(members, {1: True, 2: True, 3: True}, "t")
    assert (all_good["status"], all_good["message"]) == ("True", "3 members are available")
    one_bad = members_available_condition(members, {1: False, 2: True, 3: True}, "t")
    assert one_bad["message"] == "2 of 3 members are available, ip-a is unhealthy"
    assert one_bad["reason"] == "EtcdQuorate"
    two_bad = members_available_condition(members, {1: False, 2: False, 3: True}, "t")
    assert (two_bad["status"], two_bad["reason"]) == ("False", "NoQuorum")
    pending = members_available_condition([*members[:2], _member(4, "", "10.0.0.4")], {1: True, 2: True}, "t")
    assert pending["message"] == "2 of 3 members are available, NAME-PENDING-10.0.0.4 has not started"


def test_node_installer_progressing_speaks_like_the_seed() -> None:
    done = progressing_condition(7, {"a": 7, "b": 7, "c": 7}, "t")
    assert (done["reason"], done["message"], done["status"]) == (
        "AllNodesAtLatestRevision",
        "3 nodes are at revision 7",
        "False",
    )
    rolling = progressing_condition(4, {"a": 3, "b": 3, "c": 4}, "t")
    assert rolling["message"] == "2 nodes are at revision 3; 1 nodes are at revision 4"
    assert rolling["status"] == "True"


def test_set_condition_keeps_the_transition_time_while_the_status_holds() -> None:
    old = [{"type": "X", "status": "True", "lastTransitionTime": "early", "message": "a"}]
    same = set_condition(old, {"type": "X", "status": "True", "lastTransitionTime": "late", "message": "b"})
    assert same == [{"type": "X", "status": "True", "lastTransitionTime": "early", "message": "b"}]
    flipped = set_condition(old, {"type": "X", "status": "False", "lastTransitionTime": "late"})
    assert flipped[0]["lastTransitionTime"] == "late"
    added = set_condition(old, {"type": "Y", "status": "True", "lastTransitionTime": "now"})
    assert [c["type"] for c in added] == ["X", "Y"]


def test_a_new_member_finds_itself_and_joins_with_every_member() -> None:
    members = [
        {"name": "ip-a", "peerURLs": ["https://10.0.0.1:2380"]},
        {"name": "", "peerURLs": ["https://10.0.0.4:2380"]},
    ]
    assert find_self(members, "https://10.0.0.4:2380") == members[1]
    assert find_self(members, "https://10.0.0.9:2380") is None
    assert existing_cluster(members, "ip-d", "https://10.0.0.4:2380") == (
        "ip-a=https://10.0.0.1:2380,ip-d=https://10.0.0.4:2380"
    )


def test_crictl_lists_like_crictl() -> None:
    now = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    containers = [
        {
            "id": "3ad41b7908e32aaaa",
            "image": "quay.io/x@sha256:36f86e2eeaaffe66",
            "created": "2026-01-01T11:58:50Z",
            "state": "Running",
            "name": "etcd",
            "attempt": 0,
            "podId": "7c05f8af362f0bbb",
            "podName": "etcd-n",
            "podNamespace": "openshift-etcd",
        },
        {
            "id": "bbbbbbbbbbbbbbbb",
            "image": "i",
            "created": "2026-01-01T11:59:55Z",
            "state": "Running",
            "name": "kube-apiserver",
            "attempt": 2,
            "podId": "p",
            "podName": "kube-apiserver-n",
            "podNamespace": "openshift-kube-apiserver",
        },
    ]
    table = render_ps(containers, now).splitlines()
    assert table[0].split() == [
        "CONTAINER",
        "IMAGE",
        "CREATED",
        "STATE",
        "NAME",
        "ATTEMPT",
        "POD",
        "ID",
        "POD",
    ]
    assert table[1].startswith("3ad41b7908e32 ") and "About a minute ago" in table[1]
    assert humanize("2026-01-01T11:59:55Z", now) == "5 seconds ago"
    assert [c["name"] for c in select(containers, "etcd", [])] == ["etcd"]
    assert [c["name"] for c in select(containers, None, ["io.kubernetes.container.name=kube-apiserver"])] == [
        "kube-apiserver"
    ]


def test_host_paths_map_openshift_paths_to_the_hosts_folders(tmp_path: Path) -> None:
    host = HostPaths(tmp_path / "master-0")
    assert host.inside("/var/lib/etcd") == tmp_path / "master-0/fs/var_lib/etcd"
    assert host.inside("/etc/kubernetes/manifests/etcd-pod.yaml") == (
        tmp_path / "master-0/fs/etc_kubernetes/manifests/etcd-pod.yaml"
    )
    with pytest.raises(ValueError, match="not one of a lab host's own paths"):
        host.inside("/etc/passwd")


def test_the_manifest_says_which_revision_a_host_runs(tmp_path: Path) -> None:
    host = HostPaths(tmp_path / "master-0")
    spec = initial_hosts()[0]
    assert current_revision(host, "etcd") is None
    write_manifest(host, "etcd", etcd_pod(RUNTIME, 5, spec, [spec.client_url]))
    assert current_revision(host, "etcd") == 5
    manifest = host.inside("/etc/kubernetes/manifests/etcd-pod.yaml").read_text()
    assert "/etc/kubernetes/static-pod-resources/etcd-pod-5/secrets/etcd-all-certs/etcd-peer-" in manifest


def test_core_is_added_to_the_hosts_users_once() -> None:
    passwd = host_passwd("root:x:0:0:root:/root:/bin/bash\ncore:x:1000:1000::/home/core:/bin/sh\n")
    assert [line for line in passwd.splitlines() if line.startswith("core:")] == [
        "core:x:0:0:CoreOS Admin:/home/core:/bin/bash"
    ]
    assert "core:x:0:0:CoreOS Admin:/home/core:/bin/bash" in passwd


def test_an_etcd_member_starts_from_data_bootstraps_only_a_new_lab_and_never_restarts_empty() -> None:
    me, peer = "ip-127-0-0-12.ec2.internal", "https://127.0.0.12:2380"
    initial = f"a=https://127.0.0.11:2380,{me}={peer}"
    others: list[dict[str, object]] = [{"name": "a", "peerURLs": ["https://127.0.0.11:2380"]}]
    unstarted: list[dict[str, object]] = [*others, {"name": "", "peerURLs": [peer]}]
    started: list[dict[str, object]] = [*others, {"name": me, "peerURLs": [peer]}]

    def step(
        has_data: bool, bootstrap: str, members: list[dict[str, object]] | None, bootstrapped: bool = True
    ) -> object:
        return decide(
            has_data=has_data,
            bootstrap_cluster=bootstrap,
            bootstrapped=bootstrapped,
            members=members,
            name=me,
            peer_url=peer,
        )

    from_data = step(True, initial, started)
    assert isinstance(from_data, Start) and from_data.flags == (), "data: start from it, whatever else"
    new = step(False, initial, None, bootstrapped=False)
    assert isinstance(new, Start) and "--initial-cluster-state=new" in new.flags
    # once this host bootstrapped the cluster, the first revision's pod never makes a second one
    assert isinstance(step(False, initial, None), Wait)
    assert isinstance(step(False, initial, others), Wait)
    assert isinstance(step(False, initial, started), Refuse)
    joined = step(False, initial, unstarted)
    assert isinstance(joined, Start) and "--initial-cluster-state=existing" in joined.flags
    assert f"--initial-cluster=a=https://127.0.0.11:2380,{me}={peer}" in joined.flags
    # a later revision: wait to be added, join once added, refuse a member that lost its data
    assert isinstance(step(False, "", None), Wait) and isinstance(step(False, "", others), Wait)
    assert isinstance(step(False, "", unstarted), Start) and isinstance(step(False, "", started), Refuse)
