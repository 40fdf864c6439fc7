"""deploy/base/rbac.yaml against the Kubernetes calls in the code, without the lab: every call the
code makes through the Kube port is allowed, and every permission is needed by one of them.

The calls are found in the code itself (its syntax tree): each ``kube.<get|list|patch|create|update|
delete|exec>(...)`` in runner/, bot/ and handlers/, with the resource, namespace, object name and
subresource it names. A new call fails here until the RBAC grants it; a call removed fails here until
its rule goes too. The lab suite's last test checks the same rules against the calls the bot really made.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from runner.adapters.kube import RESOURCES
from runner.procedures import diagnose, status
from runner.procedures.restore_plan import OPERATORS
from tests.deploy.manifests import BASE, ROOT, check_rbac, render
from tests.rbac_check import Call

SCANNED = ("runner", "bot", "handlers")
METHODS = {"get", "list", "patch", "create", "update", "delete", "exec"}
# Where each method takes its namespace and object name (runner/ports.py Kube).
NAMESPACE_AT = {"get": 2, "list": 1, "patch": 3, "create": 2, "update": 2, "delete": 2, "exec": 0}
NAME_AT = {"get": 1, "patch": 1, "delete": 1, "exec": 1}
CONSTANTS = {"ETCD_NS": status.ETCD_NS, "MACHINE_NS": diagnose.MACHINE_NS}
# Resource arguments that are variables, and what they range over.
VARIABLES = {"operator": OPERATORS}


@dataclass(frozen=True)
class Found:
    where: str
    call: Call


def _is_kube(node: ast.expr) -> bool:
    """``kube``, ``clients.kube``, ``self._kube(cluster)``: the Kube port, however the code holds it."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id.lstrip("_") == "kube"
    return isinstance(node, ast.Attribute) and node.attr.lstrip("_") == "kube"


def _argument(node: ast.Call, position: int | None, keyword: str) -> ast.expr | None:
    for kw in node.keywords:
        if kw.arg == keyword:
            return kw.value
    if position is not None and position < len(node.args):
        return node.args[position]
    return None


def _text(node: ast.expr | None) -> str:
    """A literal or a known constant; "" for anything computed (an object's name from the cluster)."""
    if node is None:
        return ""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and node.id in CONSTANTS:
        return CONSTANTS[node.id]
    return ""


def _calls_in(path: Path) -> list[Found]:
    found = []
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method = node.func.attr
        if method not in METHODS:
            continue
        first = node.args[0] if node.args else None
        if not _is_kube(node.func.value):
            # dict.get("nodes") is everywhere; any other method named after a resource is a Kube call
            named = method != "get" and isinstance(first, ast.Constant) and first.value in RESOURCES
            assert not named, (
                f"{path.relative_to(ROOT)}:{node.lineno}: a Kube call on a receiver _is_kube misses"
            )
            continue
        where = f"{path.relative_to(ROOT)}:{node.lineno}"
        namespace_node = _argument(node, NAMESPACE_AT[method], "namespace")
        namespace = _text(namespace_node)
        assert namespace_node is None or namespace, f"{where}: a namespace this test cannot read"
        if method == "exec":
            name = _text(_argument(node, NAME_AT["exec"], "pod"))
            found.append(Found(where, Call("get", "", "pods", "exec", namespace, name)))
            continue
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            keys: tuple[str, ...] = (first.value,)
        elif isinstance(first, ast.Name) and first.id in VARIABLES:
            keys = VARIABLES[first.id]
        else:
            pytest.fail(f"{where}: kube.{method} on a resource this test cannot read; add it to VARIABLES")
        subresource = _text(_argument(node, None, "subresource"))
        name = _text(_argument(node, NAME_AT.get(method), "name"))
        for key in keys:
            resource = RESOURCES[key]
            found.append(
                Found(where, Call(method, resource.group, resource.plural, subresource, namespace, name))
            )
    return found


def code_calls() -> list[Found]:
    found = []
    for package in SCANNED:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.parts[-2:] != ("adapters", "kube.py"):  # the adapter itself, not a caller
                found += _calls_in(path)
    return found


def test_the_scan_finds_the_procedures_calls() -> None:
    found = code_calls()
    calls = {(f.call.verb, f.call.full_resource, f.call.namespace) for f in found}
    # a few that must be there, so a scan that silently finds nothing cannot pass
    assert ("get", "pods/exec", "openshift-etcd") in calls
    assert ("update", "certificatesigningrequests/approval", "") in calls
    assert ("delete", "machines", "openshift-machine-api") in calls
    assert ("patch", "kubeschedulers", "") in calls
    assert len(found) >= 40


def test_the_rbac_allows_every_call_in_the_code_and_nothing_else() -> None:
    found = code_calls()
    verdict = check_rbac(render(BASE), [f.call for f in found])
    where = {f.call: f.where for f in found}
    denied = [f"{call}  ← {where.get(call, 'implied')}" for call in verdict.denied]
    assert not denied, "calls in the code that deploy/base/rbac.yaml does not allow:\n" + "\n".join(denied)
    assert not verdict.unneeded, (
        "rules in deploy/base/rbac.yaml that no call in the code needs:\n"
        + "\n".join(str(p) for p in verdict.unneeded)
    )
