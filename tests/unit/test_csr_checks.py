"""The seed 3.4 checks on pending CSRs (pure), on real PEM requests shaped like certificates.k8s.io/v1."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from runner.procedures.csr import BOOTSTRAPPER, CLIENT_SIGNER, check_csr, pending

NODE = "ip-10-0-1-4.ec2.internal"
KNOWN = {"ip-10-0-1-1.ec2.internal", NODE, "lab-8qw5l-master-3"}
CREATED = "2024-05-01T12:00:00Z"
NOW = dt.datetime(2024, 5, 1, 12, 1, 30, tzinfo=dt.UTC)  # 90 s after CREATED
KEY = ec.generate_private_key(ec.SECP256R1())
KUBELET_USAGES = ["digital signature", "key encipherment", "client auth"]


def _request(
    common_name: str | None = f"system:node:{NODE}", orgs: tuple[str, ...] = ("system:nodes",)
) -> str:
    """spec.request as the API holds it: the PEM request, base64-encoded."""
    names = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in orgs]
    if common_name is not None:
        names.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names)).sign(KEY, hashes.SHA256())
    return base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()


def _csr(
    request: str | None = None,
    *,
    username: str = BOOTSTRAPPER,
    signer: str = CLIENT_SIGNER,
    usages: list[str] | None = None,
    created: str = CREATED,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": "csr-8b2xk", "creationTimestamp": created},
        "spec": {
            "request": _request() if request is None else request,
            "signerName": signer,
            "usages": list(KUBELET_USAGES) if usages is None else usages,
            "username": username,
            "groups": ["system:serviceaccounts", "system:authenticated"],
        },
        "status": status or {},
    }


def test_a_node_bootstrapper_csr_for_a_known_node_is_valid() -> None:
    check = check_csr(_csr(), KNOWN, NOW)
    assert check.valid, check.problems
    assert check.problems == ()
    assert check.node == NODE
    assert check.name == "csr-8b2xk"
    assert check.requestor == BOOTSTRAPPER
    assert check.signer == CLIENT_SIGNER
    assert f"CN=system:node:{NODE}" in check.subject
    assert "O=system:nodes" in check.subject


def test_a_machine_name_counts_as_known() -> None:
    check = check_csr(_csr(_request("system:node:lab-8qw5l-master-3")), KNOWN, NOW)
    assert check.valid and check.node == "lab-8qw5l-master-3"


def test_an_ecdsa_kubelet_without_key_encipherment_is_valid() -> None:
    check = check_csr(_csr(usages=["digital signature", "client auth"]), KNOWN, NOW)
    assert check.valid, check.problems


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: _csr(username="system:admin"), "requested by system:admin, not the node-bootstrapper"),
        (lambda: _csr(username=f"system:node:{NODE}"), f"requested by system:node:{NODE}"),
        (lambda: _csr(username=""), "requested by nobody"),
        (lambda: _csr(signer="kubernetes.io/kubelet-serving"), "signer kubernetes.io/kubelet-serving, not"),
        (lambda: _csr(signer=""), "signer none, not kubernetes.io/kube-apiserver-client-kubelet"),
        (lambda: _csr(_request("admin")), "is not system:node:<name>"),
        (lambda: _csr(_request("system:nodes:x")), "is not system:node:<name>"),
        (lambda: _csr(_request("system:node:")), "is not system:node:<name>"),
        (lambda: _csr(_request(None)), "is not system:node:<name>"),
        (
            lambda: _csr(_request("system:node:ip-10-0-9-9.ec2.internal")),
            "ip-10-0-9-9.ec2.internal is neither a node nor a machine of this cluster",
        ),
        (lambda: _csr(_request(orgs=("system:masters",))), "organization system:masters, not system:nodes"),
        (lambda: _csr(_request(orgs=())), "organization none, not system:nodes"),
        (
            lambda: _csr(_request(orgs=("system:nodes", "system:masters"))),
            "organization system:nodes, system:masters, not system:nodes",
        ),
        (
            lambda: _csr(usages=[*KUBELET_USAGES, "server auth"]),
            "usages client auth, digital signature, key encipherment, server auth are not a kubelet client's",
        ),
        (lambda: _csr(usages=["digital signature", "key encipherment"]), "are not a kubelet client's"),
        (lambda: _csr(usages=[]), "usages none are not a kubelet client's"),
    ],
)
def test_each_defect_alone_makes_a_csr_invalid_with_its_reason(
    make: Callable[[], dict[str, Any]], reason: str
) -> None:
    check = check_csr(make(), KNOWN, NOW)
    assert not check.valid
    assert len(check.problems) == 1, check.problems
    assert reason in check.problems[0]
    assert reason in check.line()


@pytest.mark.parametrize(
    "request_",
    [
        base64.b64encode(
            b"-----BEGIN CERTIFICATE REQUEST-----\nnot a request\n-----END CERTIFICATE REQUEST-----\n"
        ).decode(),
        base64.b64encode(b"hello").decode(),
        "%%% not base64 %%%",
        "",
    ],
)
def test_an_unreadable_request_is_invalid_and_says_so(request_: str) -> None:
    check = check_csr(_csr(request_), KNOWN, NOW)
    assert not check.valid
    assert check.node == ""
    assert "unreadable request" in check.subject
    assert any("unreadable request" in p for p in check.problems)
    assert "NOT approved" in check.line()


def _with_bad_utf8_common_name() -> str:
    """A well-formed request whose CN bytes are not UTF-8: it loads, but its subject cannot be read."""
    der = x509.load_pem_x509_csr(base64.b64decode(_request())).public_bytes(serialization.Encoding.DER)
    at = der.index(f"system:node:{NODE}".encode())
    bad = der[:at] + b"\xff\xfe" + der[at + 2 :]
    pem = (
        b"-----BEGIN CERTIFICATE REQUEST-----\n"
        + base64.encodebytes(bad)
        + b"-----END CERTIFICATE REQUEST-----\n"
    )
    return base64.b64encode(pem).decode()


def test_a_request_whose_subject_cannot_be_parsed_is_invalid_not_an_exception() -> None:
    check = check_csr(_csr(_with_bad_utf8_common_name()), KNOWN, NOW)
    assert not check.valid


def test_several_defects_are_all_reported() -> None:
    csr = _csr(_request("admin", ("system:masters",)), username="system:admin", usages=["server auth"])
    check = check_csr(csr, KNOWN, NOW)
    assert len(check.problems) == 4
    assert "; ".join(check.problems) in check.line()


@pytest.mark.parametrize(
    ("created", "age"),
    [
        ("2024-05-01T12:00:00Z", "1m"),  # 90 s
        ("2024-05-01T12:00:31Z", "59s"),
        ("2024-05-01T12:00:30Z", "1m"),
        ("2024-05-01T12:01:30Z", "0s"),
        ("2024-05-01T12:05:00Z", "0s"),  # created "in the future": the clocks disagree
        ("2024-05-01T10:00:00Z", "121m"),
        ("2024-05-01T12:00:00+00:00", "1m"),
        ("", "?"),
    ],
)
def test_the_age_is_shown_like_oc_get_csr(created: str, age: str) -> None:
    assert check_csr(_csr(created=created), KNOWN, NOW).age == age


@pytest.mark.parametrize(
    ("status", "is_pending"),
    [
        (None, True),
        ({}, True),
        ({"conditions": []}, True),
        ({"conditions": [{"type": "Approved", "status": "True"}]}, False),
        ({"conditions": [{"type": "Denied", "status": "True"}]}, False),
        ({"conditions": [{"type": "Failed", "status": "True"}]}, False),
        ({"certificate": "", "conditions": [{"type": "Approved"}, {"type": "Failed"}]}, False),
    ],
)
def test_pending(status: dict[str, Any] | None, is_pending: bool) -> None:
    csr = _csr()
    csr["status"] = status
    assert pending(csr) is is_pending


def test_the_line_shows_the_csr_and_its_verdict() -> None:
    valid = check_csr(_csr(), KNOWN, NOW).line()
    assert valid.startswith("csr-8b2xk  1m  ")
    assert CLIENT_SIGNER in valid and BOOTSTRAPPER in valid and f"system:node:{NODE}" in valid
    assert valid.endswith("→ valid")
    assert "NOT approved" not in valid

    refused = check_csr(_csr(username="system:admin"), KNOWN, NOW).line()
    assert "→ NOT approved: requested by system:admin" in refused
    assert "→ valid" not in refused
