"""The official Kubernetes Python client works against the lab, as the bot will use it."""

from __future__ import annotations

from kubernetes import client, config
from kubernetes.stream import stream

from tests.lab.helpers import ETCD_NS, MACHINE_NS, Lab


def test_the_official_client_reads_nodes_pods_machines_and_execs_etcdctl(lab: Lab) -> None:
    api_client = config.new_client_from_config(config_file=str(lab.kubeconfig))
    try:
        core = client.CoreV1Api(api_client)
        nodes = core.list_node(label_selector="node-role.kubernetes.io/master").items
        assert sorted(n.metadata.name for n in nodes) == [f"ip-127-0-0-1{i}.ec2.internal" for i in (1, 2, 3)]
        assert all(c.status == "True" for n in nodes for c in n.status.conditions if c.type == "Ready")
        pods = core.list_namespaced_pod(ETCD_NS).items
        assert len(pods) == 3 and all(p.status.phase == "Running" for p in pods)
        secret = core.read_namespaced_secret(f"etcd-peer-{nodes[0].metadata.name}", ETCD_NS)
        assert secret.type == "kubernetes.io/tls" and set(secret.data) == {"tls.crt", "tls.key"}
        machines = client.CustomObjectsApi(api_client).list_namespaced_custom_object(
            "machine.openshift.io", "v1beta1", MACHINE_NS, "machines"
        )["items"]
        assert {m["status"]["providerStatus"]["instanceState"] for m in machines} == {"running"}
        version = client.CustomObjectsApi(api_client).get_cluster_custom_object(
            "config.openshift.io", "v1", "clusterversions", "version"
        )
        assert version["status"]["desired"]["version"] == "4.14.12"
        resp = stream(
            core.connect_get_namespaced_pod_exec,
            pods[0].metadata.name,
            ETCD_NS,
            command=["etcdctl", "member", "list"],
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
            _preload_content=False,
        )
        resp.run_forever(timeout=20)
        resp.sock.shutdown()  # websocket-client leaves the socket open after the server's close
        out = resp.read_stdout()
        assert resp.returncode == 0
        assert out.count("started") == 3 and "https://127.0.0.11:2380" in out
    finally:
        api_client.close()
