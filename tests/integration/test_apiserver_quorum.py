"""Quorum loss on a real 3-member etcd: the API fails fast and never serves what etcd cannot confirm."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.kube.store import Store
from tests.integration.conftest import (
    QUORUM_API_IP,
    QUORUM_IPS,
    ApiServer,
    EtcdCluster,
    Kubectl,
    start_apiserver,
    stop_apiserver,
    with_store,
    write_kubeconfig,
)


@pytest.fixture
def three(tmp_path: Path) -> Iterator[tuple[EtcdCluster, ApiServer]]:
    cluster = EtcdCluster(tmp_path, QUORUM_IPS)
    api = None
    try:
        cluster.start()
        api = start_apiserver(tmp_path, QUORUM_API_IP, cluster.endpoints)
        yield cluster, api
    finally:
        if api is not None:
            stop_apiserver(api)
        cluster.stop()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_quorum_loss_gives_503_fast_and_recovers(
    three: tuple[EtcdCluster, ApiServer], tmp_path: Path
) -> None:
    cluster, api = three
    assert api.started_in < 1.5, f"the API server took {api.started_in:.2f}s to answer"
    before = _cpu_seconds(api.proc.pid)
    time.sleep(1.0)
    assert _cpu_seconds(api.proc.pid) - before < 0.05, "the API server is busy while idle"

    async def seed(store: Store) -> None:
        await store.create("namespaces", None, {"metadata": {"name": "quorum"}})

    with_store(cluster, seed)
    assert api.request("/api/v1/namespaces/quorum", token=None)[0] == 200
    assert api.request("/readyz", token=None) == (200, "ok")

    for member in cluster.members[1:]:
        member.stop(signal.SIGKILL)

    started = time.monotonic()
    status, body = api.request("/api/v1/namespaces/quorum", token=None)
    took = time.monotonic() - started
    assert status == 503 and body["reason"] == "ServiceUnavailable"
    assert took < 4.0, f"503 took {took:.1f}s"
    status, _ = api.request("/readyz", token=None)
    assert status == 503
    assert api.request("/livez", token=None) == (200, "ok")
    status, body = api.request(
        "/api/v1/namespaces", method="POST", token=None, body={"metadata": {"name": "during-outage"}}
    )
    assert status == 503
    kubectl = Kubectl(write_kubeconfig(tmp_path / "kubeconfig", api, "unused"), tmp_path)
    out = kubectl("get", "namespace", "quorum", check=False)
    assert out.returncode == 1
    assert out.stderr.startswith("Error from server (ServiceUnavailable): etcdserver: request timed out"), (
        out.stderr
    )

    initial = ",".join(f"{m.name}={m.peer_url}" for m in cluster.members)
    cluster.members[1].start(initial)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        status, body = api.request("/api/v1/namespaces/quorum", token=None)
        if status == 200:
            break
        time.sleep(0.2)
    assert status == 200 and body["metadata"]["name"] == "quorum"
    assert api.request("/readyz", token=None) == (200, "ok")
    assert api.request("/api/v1/namespaces/during-outage", token=None)[0] == 404
