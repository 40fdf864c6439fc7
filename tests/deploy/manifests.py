"""The deploy/ manifests as kubectl renders them, for the manifest tests and the lab's RBAC test.

``kubectl kustomize`` is the renderer: the one an installer runs (``oc apply -k`` embeds the same).
scripts/setup.sh installs kubectl when it is missing (Debian's kubernetes-client), so its absence is a
broken setup and fails the test that needs it, with what to do.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.procedures.csr import CLIENT_SIGNER
from runner.procedures.status import ETCD_NS
from tests.rbac_check import Call, Grant, Verdict, evaluate, grants_for, with_implied

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "base"
OVERLAYS = {"embedded": DEPLOY / "overlays" / "embedded", "ha": DEPLOY / "overlays" / "ha"}
NAMESPACE = "etcdops"
SERVICE_ACCOUNT = "etcdops"
# The SCC the etcd pods need (privileged static pods): what OpenShift checks before an exec into them.
EXEC_SCC = {ETCD_NS: "privileged"}


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail(
            "kubectl is not installed, and the deploy tests render the manifests with `kubectl kustomize`: "
            "run ./scripts/setup.sh (it installs Debian's kubernetes-client when kubectl is missing)",
            pytrace=False,
        )
    return found


def render_text(folder: Path) -> str:
    done = subprocess.run(
        [kubectl(), "kustomize", str(folder)], capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"kubectl kustomize {folder} failed ({done.returncode}):\n{done.stderr}", pytrace=False)
    return done.stdout


def render(folder: Path) -> list[dict[str, Any]]:
    """The documents ``kubectl kustomize folder`` prints. Empty ones are dropped: kustomize v2.0 (Debian's
    kubectl 1.20) leaves ``{}`` where ``$patch: delete`` removed a resource; newer ones leave nothing."""
    return [doc for doc in yaml.safe_load_all(render_text(folder)) if doc]


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d.get("kind") == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def deployments(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d.get("kind") == "Deployment"}


def bot_grants(docs: list[dict[str, Any]]) -> list[Grant]:
    """The rules the etcdops ServiceAccount holds in the rendered docs."""
    return grants_for(docs, NAMESPACE, SERVICE_ACCOUNT)


def check_rbac(docs: list[dict[str, Any]], calls: list[Call]) -> Verdict:
    """The calls (with the checks they imply) against the bot's RBAC, both ways."""
    expanded = with_implied(calls, csr_signer=CLIENT_SIGNER, exec_scc=EXEC_SCC)
    return evaluate(bot_grants(docs), expanded)
