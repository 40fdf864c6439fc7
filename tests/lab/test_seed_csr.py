"""Seed 3.4, by hand: after kubelet certificates expire, approve the node-bootstrapper CSRs."""

from __future__ import annotations

from tests.lab.helpers import Lab, etcdops, wait_for

BOOTSTRAPPER = "system:serviceaccount:openshift-machine-config-operator:node-bootstrapper"


def test_approving_the_pending_csrs_makes_the_nodes_ready(lab: Lab) -> None:
    etcdops("lab", "fault", "expire-kubelet-certs")
    wait_for(
        "every master to be NotReady",
        lambda: lab.kubectl("get", "nodes", "-l", "node-role.kubernetes.io/master").count("NotReady") == 3,
        60,
    )

    def pending() -> list[list[str]] | None:
        rows = [line.split() for line in lab.kubectl("get", "csr").splitlines()[1:]]
        waiting = [r for r in rows if r[-1] == "Pending"]
        return waiting if len(waiting) == 3 else None

    rows = wait_for("three pending CSRs", pending, 60)
    for row in rows:
        assert row[3] == BOOTSTRAPPER and row[2] == "kubernetes.io/kube-apiserver-client-kubelet"
        described = lab.kubectl("describe", "csr", row[0])
        assert "system:node:ip-127-0-0-1" in described and BOOTSTRAPPER in described
    for row in rows:
        assert "approved" in lab.kubectl("certificate", "approve", row[0])
    wait_for(
        "every master to be Ready again",
        lambda: lab.kubectl("get", "nodes", "-l", "node-role.kubernetes.io/master").count(" Ready ") == 3,
        60,
    )
    assert lab.kubectl("get", "csr").count("Approved,Issued") == 3
