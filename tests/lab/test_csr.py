"""``/etcd csr`` (seed 3.4) against the lab through the local Slack: after the kubelets' client
certificates expire, exactly the node-bootstrapper CSRs are approved (by bob and carol); a CSR planted by
another requestor for a master's name is shown as refused and stays pending; the nodes become Ready."""

from __future__ import annotations

import base64
import json

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lab.slack import Message, SlackDriver
from tests.lab.botkit import CHANNEL, finished_run_message, run_id_of
from tests.lab.helpers import Lab, etcdops, wait_for
from tests.lab.test_restore import approve

PLANTED = "csr-planted"


def _plant_csr(lab: Lab) -> None:
    """A CSR for a master's identity, made by the admin rather than the node-bootstrapper."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
            x509.NameAttribute(NameOID.COMMON_NAME, "system:node:ip-127-0-0-11.ec2.internal"),
        ]
    )
    request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    body = {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": PLANTED},
        "spec": {
            "request": base64.b64encode(request.public_bytes(serialization.Encoding.PEM)).decode(),
            "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
            "usages": ["digital signature", "key encipherment", "client auth"],
        },
    }
    manifest = lab.root / "planted-csr.json"
    manifest.write_text(json.dumps(body))
    lab.kubectl("create", "-f", str(manifest))


def _csrs(lab: Lab) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in lab.kubectl("get", "csr").splitlines()[1:]}


def test_csr_approves_exactly_the_node_bootstrapper_requests(lab: Lab, bot: SlackDriver) -> None:
    etcdops("lab", "fault", "expire-kubelet-certs")
    wait_for(
        "three pending node-bootstrapper CSRs",
        lambda: sum(1 for row in _csrs(lab).values() if row[-1] == "Pending") == 3 or None,
        60,
    )
    _plant_csr(lab)
    bootstrap = sorted(name for name, row in _csrs(lab).items() if name != PLANTED)

    run_id = run_id_of(bot.slash("alice", CHANNEL, "/etcd", "csr"))

    def request(messages: list[Message]) -> Message | None:
        wanted = "Approval needed: *csr approval*"
        return next((m for m in messages if f"run `{run_id}`" in m.text and wanted in m.text), None)

    asked: Message = bot.wait_for(CHANNEL, request, timeout=60, interval=0.2)
    for name in bootstrap:
        assert f"oc adm certificate approve {name}" in asked.text, asked.text
    assert f"oc adm certificate approve {PLANTED}" not in asked.text
    assert PLANTED in asked.text and "requested by system:admin" in asked.text, "shown as refused, with why"
    approve(bot, asked, "bob", "carol")

    done = finished_run_message(bot, run_id, timeout=240)
    assert "succeeded" in done.text.split("\n")[0], done.text
    assert f"never approved: {PLANTED}" in done.text
    rows = _csrs(lab)
    assert rows[PLANTED][-1] == "Pending", "the planted CSR was never approved"
    assert all(rows[name][-1] == "Approved,Issued" for name in bootstrap), rows
    nodes = lab.kubectl("get", "nodes", "-l", "node-role.kubernetes.io/master")
    assert nodes.count(" Ready ") == 3, nodes
