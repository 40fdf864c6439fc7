"""Redaction: a canary secret of each kind never survives, and ordinary operations text is left alone."""

from __future__ import annotations

import pytest

from storage.redact import REDACTED, redact, was_redacted

CANARY = "CANARY7f3a"

SECRETS = [
    ("slack bot token", f"the bot token is xoxb-1234-{CANARY}, rotate it"),
    ("slack user token", f"xoxp-99-88-{CANARY}"),
    ("slack app token", f"SLACK_APP_TOKEN xapp-1-A0LAB-0000-{CANARY}"),
    ("slack refresh token", f"xoxr-{CANARY}"),
    (
        "private key",
        f"key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow{CANARY}IBAAKCAQEA\n-----END RSA PRIVATE KEY-----\nok",
    ),
    ("certificate", f"-----BEGIN CERTIFICATE-----\nMIIC{CANARY}\n-----END CERTIFICATE-----"),
    ("ec key in one line", f"-----BEGIN EC PRIVATE KEY----- MHc{CANARY} -----END EC PRIVATE KEY-----"),
    ("pem cut off by a log limit", f"output: -----BEGIN PRIVATE KEY-----\nMIIE{CANARY}..."),
    ("pem, base64 (kubeconfig)", f"client-key-data: LS0tLS1CRUdJTiBSU0Eg{CANARY}"),
    ("aws access key", "AKIA" + "ABCDEFGHIJKLMNOP"),
    ("aws secret key", f"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/{CANARY}"),
    ("aws secret key, env", f"export AWS_SECRET_ACCESS_KEY={CANARY}"),
    ("bearer token", f"curl -H 'Authorization: Bearer abc.{CANARY}.xyz' https://api:6443"),
    ("basic auth", f"Authorization: Basic dXNlcjp{CANARY}"),
    ("password in a url", f"s3 at https://backup:{CANARY}@minio.local:9000/etcd"),
    ("token= in a query", f"GET /healthz?token={CANARY}&verbose=1"),
    ("password=", f"etcdctl --user root --password={CANARY} member list"),
    ("--password VALUE", f"etcdctl --password {CANARY} member list"),
    ("secret=", f"client_secret={CANARY}"),
    ("quoted json secret", f'{{"password": "{CANARY}", "user": "root"}}'),
    ("yaml password", f"password: {CANARY}"),
    (
        "kubernetes secret, yaml",
        f"kind: Secret\ndata:\n  tls.key: {CANARY}==\n  tls.crt: QUJD{CANARY}\ntype: x",
    ),
    ("kubernetes secret, json", f'{{"kind": "Secret", "data": {{"tls.key": "{CANARY}"}}}}'),
    ("service account token (jwt)", f"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.{CANARY}"),
    ("openshift token", f"oc login --token sha256~abcdefghijklmnopqrstuv{CANARY}"),
]


@pytest.mark.parametrize(("kind", "text"), SECRETS, ids=[kind for kind, _ in SECRETS])
def test_the_canary_never_survives(kind: str, text: str) -> None:
    redacted = redact(text)
    assert CANARY not in redacted and "ABCDEFGHIJKLMNOP" not in redacted, kind
    assert REDACTED in redacted
    assert redact(redacted) == redacted, "redacting twice changes nothing more"
    assert was_redacted(text)


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (f"curl https://backup:{CANARY}@minio.local", "https://backup:"),  # who, not the password
        (f"password={CANARY}", "password="),
        (f"Authorization: Bearer {CANARY}", "Authorization: Bearer "),
        (f"key:\n-----BEGIN RSA PRIVATE KEY-----\n{CANARY}\n-----END RSA PRIVATE KEY-----\nok", "\nok"),
    ],
)
def test_what_tells_the_reader_what_was_there_is_kept(text: str, kept: str) -> None:
    assert kept in redact(text)


@pytest.mark.parametrize(
    "text",
    [
        "member etcd-2 (8e4a1f2d3c4b5a69) is unhealthy: context deadline exceeded",
        "Delete its peer, serving and metrics secrets — **succeeded**",
        'secret "etcd-peer-ip-10-0-1-12" deleted',
        "oc delete secret -n openshift-etcd etcd-serving-ip-10-0-1-12",
        "step 4 (Remove the member): approved by alice, bob at 2026-12-01 19:41:00 UTC",
        "snapshot_2026-12-01_193005.db sha256 9a9a9a, 6442450944 bytes, revision 1099511627776",
        "https://api.lab.example.com:6443/api/v1/namespaces/openshift-etcd/pods",
        "the member list shows 3 started members; quorum ok",
        "",
    ],
)
def test_ordinary_operations_text_is_left_alone(text: str) -> None:
    assert redact(text) == text
    assert not was_redacted(text)
