"""The RBAC of deploy/base is exactly what the bot used: every API call the bot made during this lab
session (as the etcdops ServiceAccount, recorded by the lab's API server) is allowed by the rules bound to
that ServiceAccount, and every permission they grant was needed by one of those calls.

Last in the folder (files run alphabetically, and conftest moves it to the end) and only when the whole
folder runs: conftest deselects it otherwise, since part of the suite leaves rules unused. The checks a
call implies beyond its own verb (a CSR's signer, an exec's websocket create and OpenShift's SCC) count
as calls: see tests/rbac_check.py.
"""

from __future__ import annotations

import json
from collections import Counter

from tests.deploy.manifests import BASE, check_rbac, render
from tests.lab.conftest import bot_calls_file
from tests.rbac_check import Call


def test_the_rbac_allows_every_call_the_bot_made_and_no_more() -> None:
    path = bot_calls_file()
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert records, (
        f"{path} is empty: no lab test recorded a call by the bot's persona. The lab's cluster profile "
        "must point the bot at <lab>/kubeconfig-etcdops (lab/bootstrap.py), and the lab fixture collects "
        "the calls from each lab's audit log at teardown (tests/lab/conftest.py)"
    )
    unauthenticated = [r for r in records if r.get("code") == 401]
    assert not unauthenticated, f"the bot's token was refused: {unauthenticated[:3]}"
    calls = [Call.from_audit(r) for r in records]
    tests_of: dict[Call, set[str]] = {}
    for record, call in zip(records, calls, strict=True):
        tests_of.setdefault(call, set()).add(str(record.get("test", "?")))
    verdict = check_rbac(render(BASE), calls)
    counts = Counter(calls)
    denied = [
        f"{call}  ×{counts.get(call, 0)}  ← {', '.join(sorted(tests_of.get(call, {'implied'})))}"
        for call in verdict.denied
    ]
    assert not denied, "calls the bot made that deploy/base/rbac.yaml would deny:\n" + "\n".join(denied)
    assert not verdict.unneeded, (
        "permissions in deploy/base/rbac.yaml that no call of the lab suite needed (remove them, or add "
        "a lab test that makes the call):\n" + "\n".join(str(p) for p in verdict.unneeded)
    )
