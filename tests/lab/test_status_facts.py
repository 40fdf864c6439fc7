"""``/etcd status`` facts gathered from the lab through the real adapters, and rendered."""

from __future__ import annotations

import datetime as dt
import time

from runner.adapters.kube import KubeApi
from runner.procedures.status import gather_status, render_status
from tests.lab.helpers import Lab, etcdops, wait_for


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_status_when_healthy_with_a_stopped_machine_and_without_quorum(lab: Lab) -> None:
    kube = KubeApi(kubeconfig=lab.kubeconfig, timeout=5)
    try:
        healthy = gather_status(kube, "lab", _now())
        assert healthy.healthy and healthy.members_message == "3 members are available"
        assert len(healthy.members) == 3 and sum(m.leader for m in healthy.members) == 1
        assert all(m.db_size and m.revision for m in healthy.members)
        assert {m.client_url for m in healthy.members} == {f"https://127.0.0.1{i}:2379" for i in (1, 2, 3)}
        assert len(healthy.cert_expiry) == 3 and all(e > _now() for e in healthy.cert_expiry.values())
        text, blocks = render_status(healthy)
        assert text.startswith(":large_green_circle: *lab*: 3 members are available")
        assert "no backup recorded yet" in text and blocks[0]["type"] == "section"

        etcdops("lab", "fault", "stop-machine", "ip-127-0-0-11.ec2.internal")
        wait_for(
            "the operator to notice", lambda: "is unhealthy" in lab.condition("etcd", "EtcdMembersAvailable")
        )
        wait_for("the node to go NotReady", lambda: "NotReady" in lab.kubectl("get", "nodes"))
        started = time.monotonic()
        degraded = gather_status(
            kube, "lab", _now(), last_backup_at=_now() - dt.timedelta(hours=3, minutes=1)
        )
        assert time.monotonic() - started < 15, "a dead member must not make status slow"
        assert not degraded.healthy and degraded.quorate
        down = [m for m in degraded.members if not m.healthy]
        assert [m.client_url for m in down] == ["https://127.0.0.11:2379"]
        assert [n.name for n in degraded.nodes if not n.ready] == ["ip-127-0-0-11.ec2.internal"]
        text, _ = render_status(degraded)
        assert ":warning:" in text and "ip-127-0-0-11.ec2.internal is unhealthy" in text
        assert "❌ ip-127-0-0-11.ec2.internal NotReady" in text and "last good backup 3 h ago" in text

        etcdops("lab", "fault", "crashloop", "ip-127-0-0-12.ec2.internal")
        lost = wait_for(
            "the API to be reported unreachable",
            lambda: (s := gather_status(kube, "lab", _now())).api_error and s,
            60,
            1,
        )
        text, _ = render_status(lost)
        assert text.startswith(":red_circle: *lab*: the Kubernetes API is unreachable")
    finally:
        kube.close()
