"""Health reports: each green/amber/red rule on a table of facts, the change signature, and gathering
many clusters at once (order kept, one failure contained, no waiting on a hung cluster)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from runner.health import (
    DEFAULT_QUOTA_BYTES,
    GIB,
    HealthFacts,
    HealthReport,
    HealthState,
    Level,
    PendingCsr,
    Thresholds,
    classify,
    failed_report,
    gather_reports,
    health_signature,
    parse_signature,
    plain,
    should_post_now,
)
from runner.ports import ApiUnreachable, CommandResult
from runner.procedures.health_facts import gather_health_facts
from runner.procedures.status import ClusterStatus, MemberStatus, NodeStatus, PodStatus

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
MIB = 1024**2
NODES = ("master-0", "master-1", "master-2")
IDS = {"master-0": "8e4a1c2b3d4e5f60", "master-1": "1f2e3d4c5b6a7980", "master-2": "a1b2c3d4e5f60718"}


def member(name: str, **changes: Any) -> MemberStatus:
    index = NODES.index(name) if name in NODES else 9
    base = MemberStatus(
        id=IDS.get(name, "feedfacecafe0001"),
        name=name,
        peer_url=f"https://10.0.0.{index + 1}:2380",
        client_url=f"https://10.0.0.{index + 1}:2379",
        healthy=True,
        leader=name == "master-0",
        db_size=120 * MIB,
        revision=48213,
    )
    return dataclasses.replace(base, **changes)


def status(**changes: Any) -> ClusterStatus:
    base = ClusterStatus(
        cluster="prod",
        checked_at=NOW,
        members_message="3 members are available",
        quorate=True,
        members=tuple(member(n) for n in NODES),
        nodes=tuple(NodeStatus(n, True, "KubeletReady") for n in NODES),
        pods=tuple(PodStatus(f"etcd-{n}", n, "4/4", "Running", 0) for n in NODES),
        cert_expiry={n: NOW + dt.timedelta(days=900) for n in NODES},
        last_backup_at=NOW - dt.timedelta(hours=2),
    )
    return dataclasses.replace(base, **changes)


def facts(**changes: Any) -> HealthFacts:
    """Healthy facts of cluster ``prod``; keyword arguments change the status, or the facts' own fields."""
    own = {k: changes.pop(k) for k in ("quota_bytes", "pending_csrs", "csr_error") if k in changes}
    return HealthFacts(status(**changes), **own)


TWO_PODS = status().pods[:2]


def members_with(name: str, **changes: Any) -> tuple[MemberStatus, ...]:
    return tuple(member(n, **changes) if n == name else member(n) for n in NODES)


def percent_of_8_gib(percent: int) -> int:
    return -(-8 * GIB * percent // 100)  # rounded up: floored, 96 % would be 95.99...


def certs(days: float) -> dict[str, dt.datetime]:
    """master-1's certificate expires in ``days``; the others in years."""
    return {n: NOW + dt.timedelta(days=days if n == "master-1" else 900) for n in NODES}


# --- the rules ----------------------------------------------------------------------------------

RULES: list[tuple[str, HealthFacts, Level, str]] = [
    ("all well", facts(), Level.GREEN, ""),
    (
        "API unreachable",
        facts(api_error="connection refused", members=(), nodes=(), pods=(), cert_expiry={}),
        Level.RED,
        "the Kubernetes API does not answer: connection refused",
    ),
    (
        "operator says no quorum",
        facts(quorate=False, members_message="1 of 3 members are available, master-1 is unhealthy"),
        Level.RED,
        "the etcd operator reports no quorum",
    ),
    (
        "operator silent",
        facts(quorate=False, members_message=""),
        Level.AMBER,
        "the etcd operator does not report EtcdMembersAvailable",
    ),
    (
        "one member unhealthy",
        facts(members=members_with("master-1", healthy=False, error="context deadline exceeded")),
        Level.RED,
        "member master-1 (1f2e3d4c5b6a7980) is unhealthy: context deadline exceeded",
    ),
    (
        "two of three unhealthy",
        facts(members=(member("master-0"), *(member(n, healthy=False) for n in NODES[1:]))),
        Level.RED,
        "etcd has lost quorum: only 1 of 3 members are healthy",
    ),
    (
        "added, never started",
        facts(members=(*(member(n) for n in NODES), member("(not started)", healthy=False, leader=False))),
        Level.RED,
        "member NAME-PENDING-10.0.0.10 (feedfacecafe0001) was added but has not started",
    ),
    (
        "only the operator says unhealthy",
        facts(members_message="2 of 3 members are available, master-2 is unhealthy"),
        Level.RED,
        "member master-2 is unhealthy, says the etcd operator",
    ),
    (
        "members unknown, operator names two",
        facts(
            members=(),
            member_error="etcd-master-0: exec failed",
            quorate=False,
            members_message="1 of 3 members are available, master-1 is unhealthy, master-2 is unhealthy",
        ),
        Level.RED,
        "member master-2 is unhealthy, says the etcd operator",
    ),
    (
        "members unknown",
        facts(members=(), member_error="no running etcd pod on a Ready node to ask"),
        Level.AMBER,
        "the etcd members could not be read: no running etcd pod on a Ready node to ask",
    ),
    (
        "no leader",
        facts(members=members_with("master-0", leader=False)),
        Level.AMBER,
        "no member says it is the leader",
    ),
    (
        "two leaders",
        facts(members=members_with("master-2", leader=True)),
        Level.AMBER,
        "2 members say they are the leader (master-0, master-2)",
    ),
    (
        "endpoint status silent",
        facts(members=tuple(member(n, leader=False, db_size=None, revision=None) for n in NODES)),
        Level.AMBER,
        "no member answered `etcdctl endpoint status`",
    ),
    (
        "database at 96 %",
        facts(members=members_with("master-2", db_size=percent_of_8_gib(96))),
        Level.RED,
        "the database of member master-2 is 7.7 GiB, 96% of the 8.0 GiB quota: at the quota etcd raises",
    ),
    (
        "database at 85 %",
        facts(members=members_with("master-2", db_size=percent_of_8_gib(85))),
        Level.AMBER,
        "the database of member master-2 is 6.8 GiB, 85% of the 8.0 GiB quota: plan a defragmentation",
    ),
    (
        "database at 79 %",
        facts(members=members_with("master-2", db_size=percent_of_8_gib(79))),
        Level.GREEN,
        "",
    ),
    (
        "database against etcd's own 2 GiB quota",
        facts(members=members_with("master-2", db_size=-(-2 * GIB * 85 // 100)), quota_bytes=2 * GIB),
        Level.AMBER,
        "85% of the 2.0 GiB quota",
    ),
    (
        "certificate expired",
        facts(cert_expiry=certs(-2)),
        Level.RED,
        "the etcd peer certificate of master-1 EXPIRED 2 days ago (2024-04-29 12:00 UTC)",
    ),
    (
        "certificate within 7 days",
        facts(cert_expiry=certs(5)),
        Level.RED,
        "the etcd peer certificate of master-1 expires in 5 days (2024-05-06 12:00 UTC)",
    ),
    ("certificate within 30 days", facts(cert_expiry=certs(20)), Level.AMBER, "expires in 20 days"),
    ("certificate in 40 days", facts(cert_expiry=certs(40)), Level.GREEN, ""),
    ("certificate expiry unknown", facts(cert_expiry={}), Level.AMBER, "etcd certificate expiry unknown"),
    (
        "no backup",
        facts(last_backup_at=None),
        Level.AMBER,
        "no verified backup of prod is recorded: take one with `/etcd backup prod`",
    ),
    (
        "backup too old",
        facts(last_backup_at=NOW - dt.timedelta(hours=30)),
        Level.AMBER,
        "the last good backup is 30 h old, more than the 24 h allowed",
    ),
    (
        "CSRs pending for long",
        facts(
            pending_csrs=(
                PendingCsr("csr-b", NOW - dt.timedelta(minutes=20)),
                PendingCsr("csr-a", NOW - dt.timedelta(hours=3)),
                PendingCsr("csr-new", NOW - dt.timedelta(minutes=1)),
            )
        ),
        Level.AMBER,
        "2 CSRs pending for more than 10 min (csr-a, csr-b): check them and approve the valid ones",
    ),
    (
        "a fresh CSR is the machine approver's",
        facts(pending_csrs=(PendingCsr("csr-new", NOW - dt.timedelta(minutes=1)),)),
        Level.GREEN,
        "",
    ),
    ("CSRs unreadable", facts(csr_error="forbidden"), Level.AMBER, "the pending CSRs could not be listed"),
    (
        "master NotReady, members fine",
        facts(
            nodes=(
                *(NodeStatus(n, True) for n in NODES[:2]),
                NodeStatus("master-2", False, "KubeletNotReady"),
            )
        ),
        Level.AMBER,
        "master master-2 is NotReady (KubeletNotReady)",
    ),
    (
        "etcd pod crash-looping",
        facts(
            pods=(*status().pods[:2], PodStatus("etcd-master-2", "master-2", "3/4", "CrashLoopBackOff", 7))
        ),
        Level.AMBER,
        "etcd pod etcd-master-2 on master-2 is CrashLoopBackOff (3/4 containers ready, 7 restarts)",
    ),
    (
        "etcd pod not ready",
        facts(pods=(*TWO_PODS, PodStatus("etcd-master-2", "master-2", "3/4", "Running", 0))),
        Level.AMBER,
        "is Running with only 3/4 containers ready",
    ),
    (
        "master without etcd pod",
        facts(pods=status().pods[:2]),
        Level.AMBER,
        "master master-2 has no etcd pod",
    ),
]


@pytest.mark.parametrize(("facts_", "level", "reason"), [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_each_rule_sets_the_level_and_says_why(facts_: HealthFacts, level: Level, reason: str) -> None:
    report = classify(facts_, NOW)
    assert report.level is level, report.reasons
    if reason:
        assert any(reason in r for r in report.reasons), report.reasons
    else:
        assert report.reasons == ()


def test_the_backup_limit_is_the_clusters() -> None:
    old = facts(last_backup_at=NOW - dt.timedelta(hours=30))
    assert classify(old, NOW, Thresholds(backup_max_age=dt.timedelta(hours=48))).level is Level.GREEN


def test_an_unreachable_api_still_reports_the_backup_age_and_marks_the_cluster_unseen() -> None:
    report = classify(facts(api_error="the API answered 503", last_backup_at=None), NOW)
    assert report.level is Level.RED and not report.reachable
    assert [f.level for f in report.findings] == [Level.RED, Level.AMBER]
    assert "no verified backup" in report.reasons[1]


def test_reasons_are_worst_first_and_unhealthy_members_sorted() -> None:
    report = classify(
        facts(
            last_backup_at=None,
            members=(
                member("master-0"),
                member("master-1", healthy=False, error="x"),
                member("master-2", healthy=False, error="y"),
            ),
            members_message="1 of 3 members are available, master-2 is unhealthy, master-1 is unhealthy",
            quorate=False,
        ),
        NOW,
    )
    levels = [f.level for f in report.findings]
    assert levels == sorted(levels, key=lambda level: -level.rank)
    assert report.unhealthy_members == ("master-1", "master-2")


def test_errors_in_reasons_are_one_line_without_credentials() -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqh\n-----END PRIVATE KEY-----"
    error = f"401 Unauthorized\nAuthorization: Bearer eyJhbGciOi.secret.part token=sha256~AbC123 {pem}"
    report = classify(facts(api_error=error), NOW)
    reason = report.reasons[0]
    for secret in ("eyJhbGciOi", "AbC123", "MIIEvQIBADANBgkqh", "\n"):
        assert secret not in reason
    assert "401 Unauthorized" in reason
    assert len(plain("x" * 5000)) <= 300


# --- change detection ---------------------------------------------------------------------------


def signature_of(**changes: Any) -> str:
    return health_signature(classify(facts(**changes), NOW))


def test_noise_within_a_level_keeps_the_signature() -> None:
    grown = members_with("master-2", db_size=percent_of_8_gib(50), revision=99999)
    assert signature_of() == signature_of(members=grown, last_backup_at=NOW - dt.timedelta(hours=20))
    stale = signature_of(last_backup_at=NOW - dt.timedelta(hours=30))
    staler = signature_of(last_backup_at=NOW - dt.timedelta(days=6), members=grown)
    assert stale == staler == "amber"
    down = members_with("master-1", healthy=False, error="context deadline exceeded")
    slower = members_with("master-1", healthy=False, error="connection refused", db_size=999 * MIB)
    assert signature_of(members=down) == signature_of(members=slower) == "red;unhealthy=master-1"


def test_a_member_going_down_or_coming_back_changes_the_signature() -> None:
    healthy = signature_of()
    one = signature_of(members=members_with("master-1", healthy=False))
    two = signature_of(members=(member("master-0"), *(member(n, healthy=False) for n in NODES[1:])))
    assert len({healthy, one, two}) == 3
    assert two == "red;unhealthy=master-1,master-2"
    db_red = signature_of(members=members_with("master-2", db_size=8 * GIB))
    api_down = signature_of(api_error="connection refused")
    assert db_red == "red" and api_down == "red;unreachable"


def test_signatures_parse_back() -> None:
    state = HealthState(Level.RED, False, ("master-1", "master-2"))
    assert parse_signature(state.signature) == state
    assert parse_signature("green") == HealthState(Level.GREEN)
    with pytest.raises(ValueError):
        parse_signature("purple")
    with pytest.raises(ValueError):
        parse_signature("red;members=a")


def test_post_on_change_only() -> None:
    green = classify(facts(), NOW)
    red = classify(facts(members=members_with("master-1", healthy=False)), NOW)
    assert not should_post_now(None, green)  # a first green is not news
    assert should_post_now(None, red)
    assert not should_post_now(health_signature(red), red)  # no repeats while the state holds
    assert should_post_now(health_signature(green), red)
    assert should_post_now(health_signature(red), green)  # recovery


# --- many clusters ------------------------------------------------------------------------------


def green_report(name: str) -> HealthReport:
    return dataclasses.replace(classify(facts(), NOW), cluster=name)


def test_clusters_are_gathered_concurrently_in_order() -> None:
    names = [f"c{i:02d}" for i in range(20)]

    def slow(name: str) -> HealthReport:
        time.sleep(0.4 - int(name[1:]) * 0.01)  # the last names finish first
        return green_report(name)

    started = time.monotonic()
    reports = gather_reports(names, slow, max_workers=20)
    elapsed = time.monotonic() - started
    assert [r.cluster for r in reports] == names
    assert elapsed < 2.0, f"{elapsed:.2f} s: not concurrent (one by one takes about 6 s)"


def test_one_failing_cluster_is_red_and_the_others_are_untouched() -> None:
    def gather(name: str) -> HealthReport:
        if name == "b":
            raise ApiUnreachable("the API is unreachable: [Errno 111] Connection refused")
        if name == "c":
            raise KeyError("items")
        return green_report(name)

    reports = gather_reports(["a", "b", "c", "d"], gather, max_workers=2, now=lambda: NOW)
    assert [r.level for r in reports] == [Level.GREEN, Level.RED, Level.RED, Level.GREEN]
    assert reports[1].reasons == ("could not gather: the API is unreachable: [Errno 111] Connection refused",)
    assert reports[2].reasons == ("could not gather: 'items'",)
    assert health_signature(reports[1]) == "red;unreachable"
    assert reports[1].cluster == "b" and reports[1].checked_at == NOW


def test_a_hung_cluster_does_not_hold_the_report() -> None:
    release = threading.Event()

    def gather(name: str) -> HealthReport:
        if name == "stuck":
            release.wait(10)
        return green_report(name)

    try:
        started = time.monotonic()
        reports = gather_reports(["a", "stuck", "b"], gather, max_workers=3, timeout=0.3)
        assert time.monotonic() - started < 2
    finally:
        release.set()
    assert [r.level for r in reports] == [Level.GREEN, Level.RED, Level.GREEN]
    assert "no answer within 0.3 s" in reports[1].reasons[0]


def test_gather_reports_edges() -> None:
    assert gather_reports([], green_report, max_workers=4) == []
    with pytest.raises(ValueError):
        gather_reports(["a"], green_report, max_workers=0)
    assert failed_report("x", NOW, "could not gather: boom").level is Level.RED


# --- gathering through the Kube port ------------------------------------------------------------


def _cert_secret(node: str, expires: dt.datetime) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(expires)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    return {"metadata": {"name": f"etcd-peer-{node}"}, "data": {"tls.crt": base64.b64encode(pem).decode()}}


def _ready(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


def _pod(node: str) -> dict[str, Any]:
    return {
        "metadata": {"name": f"etcd-{node}"},
        "spec": {"nodeName": node},
        "status": {"phase": "Running", "containerStatuses": [{"ready": True, "state": {"running": {}}}]},
    }


class FakeKube:
    """The reads ``/etcd status`` and the health gatherer make, from fixed objects."""

    def __init__(self, *, csr_down: bool = False, api_down: bool = False, quota_gib: int | None = None):
        self.csr_down, self.api_down = csr_down, api_down
        self.calls: list[str] = []
        spec = {"backendQuotaGiB": quota_gib} if quota_gib else {}
        condition = {"type": "EtcdMembersAvailable", "status": "True", "message": "3 members are available"}
        self.etcd = {"spec": spec, "status": {"conditions": [condition]}}
        ids = {n: int(IDS[n], 16) for n in NODES}
        url = {n: f"https://10.0.0.{i + 1}:2379" for i, n in enumerate(NODES)}
        self.outputs = {
            "list": {"members": [{"ID": ids[n], "name": n, "clientURLs": [url[n]]} for n in NODES]},
            "health": [{"endpoint": url[n], "health": True} for n in NODES],
            "status": [
                {
                    "Endpoint": url[n],
                    "Status": {"header": {"member_id": ids[n], "revision": 7}, "leader": ids["master-0"]},
                }
                for n in NODES
            ],
        }

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        self.calls.append(f"get {resource}")
        if self.api_down:
            raise ApiUnreachable("the API is unreachable: connection refused")
        assert (resource, name) == ("etcd", "cluster")
        return self.etcd

    def list(
        self, resource: str, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        self.calls.append(f"list {resource}")
        if resource == "csr" and self.csr_down:
            raise ApiUnreachable("the API answered 503: etcdserver: request timed out")
        pending = {"metadata": {"name": "csr-old", "creationTimestamp": "2024-05-01T10:00:00Z"}}
        approved = {"metadata": {"name": "csr-done"}, "status": {"conditions": [{"type": "Approved"}]}}
        objects = {
            "nodes": [_ready(n) for n in NODES],
            "pods": [_pod(n) for n in NODES],
            "secrets": [_cert_secret(n, NOW + dt.timedelta(days=20)) for n in NODES],
            "csr": [pending, approved],
        }
        return objects[resource]

    def exec(
        self,
        namespace: str,
        pod: str,
        argv: Sequence[str],
        *,
        container: str | None = None,
        timeout: float = 60,
    ) -> CommandResult:
        output = self.outputs["list" if argv[1] == "member" else argv[2]]
        return CommandResult(pod, tuple(argv), 0, json.dumps(output), "")

    def patch(self, resource: str, name: str, patch: dict[str, Any], namespace: str | None = None) -> None:
        raise AssertionError("a health check never writes")

    def create(self, resource: str, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        raise AssertionError("a health check never writes")

    def update(
        self, resource: str, body: dict[str, Any], namespace: str | None = None, *, subresource: str = ""
    ) -> dict[str, Any]:
        raise AssertionError("a health check never writes")

    def delete(self, resource: str, name: str, namespace: str | None = None) -> bool:
        raise AssertionError("a health check never writes")

    def close(self) -> None:
        pass


def _gather(kube: FakeKube, **kwargs: Any) -> HealthFacts:
    def an_hour_ago(cluster: str) -> dt.datetime | None:
        return NOW - dt.timedelta(hours=1)

    return gather_health_facts(kube, "prod", NOW, last_backup_at=an_hour_ago, **kwargs)


def test_gathered_facts_add_pending_csrs_and_the_quota_to_the_status() -> None:
    gathered = _gather(FakeKube(quota_gib=16))
    assert gathered.pending_csrs == (PendingCsr("csr-old", NOW - dt.timedelta(hours=2)),)
    assert gathered.quota_bytes == 16 * GIB and gathered.status.quorate
    assert gathered.status.last_backup_at == NOW - dt.timedelta(hours=1)
    assert [m.leader for m in gathered.status.members] == [True, False, False]
    report = classify(gathered, NOW)
    assert report.level is Level.AMBER, report.reasons
    assert len(report.reasons) == 2  # the certificates in 20 days, the CSR pending for 2 h
    assert _gather(FakeKube()).quota_bytes == DEFAULT_QUOTA_BYTES
    assert _gather(FakeKube(quota_gib=16), quota_bytes=3 * GIB).quota_bytes == 3 * GIB


def test_an_unreachable_api_is_a_fact_and_csrs_are_not_asked() -> None:
    kube = FakeKube(api_down=True)
    gathered = _gather(kube)
    assert "connection refused" in gathered.status.api_error and gathered.quota_bytes == DEFAULT_QUOTA_BYTES
    assert "list csr" not in kube.calls
    assert classify(gathered, NOW).level is Level.RED


def test_csrs_that_cannot_be_listed_are_said_so() -> None:
    gathered = _gather(FakeKube(csr_down=True))
    assert gathered.pending_csrs == () and "request timed out" in gathered.csr_error
