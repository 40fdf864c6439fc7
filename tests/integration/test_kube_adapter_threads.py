"""The Kube adapter shared by threads, as the runner, the scheduler and the health watch share it: an
exec into a pod while another thread lists objects must leave that list a plain HTTP request.

(``kubernetes.stream.stream`` swaps the API client's request method for a websocket one while it runs;
on a shared client, a concurrent LIST went out as a websocket upgrade and failed with "Handshake status
200 OK".)"""

from __future__ import annotations

import threading

from runner.adapters.kube import KubeApi
from tests.integration.conftest import MASTERS, Env, write_kubeconfig

EXECS, LISTS = 60, 400
HEALTH = ["etcdctl", "endpoint", "health"]


def test_exec_and_list_at_the_same_time(seeded: Env) -> None:
    path = write_kubeconfig(seeded.workdir / "kubeconfig-threads", seeded.api, "bot-token-9876543210")
    kube = KubeApi(kubeconfig=path)
    errors: list[BaseException] = []
    listed: list[int] = []
    executed: list[int] = []

    def execs() -> None:
        try:
            for _ in range(EXECS):
                result = kube.exec(
                    "openshift-etcd", f"etcd-{MASTERS[0][0]}", ["etcdctl", "endpoint", "health"]
                )
                executed.append(result.exit_code)
        except BaseException as exc:
            errors.append(exc)

    def lists() -> None:
        try:
            for _ in range(LISTS):
                listed.append(len(kube.list("pods", "openshift-etcd")))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=execs), threading.Thread(target=lists)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        kube.close()
    assert errors == []
    assert executed == [0] * EXECS
    assert len(listed) == LISTS and all(count > 0 for count in listed)
