"""tests/rbac_check.py, on synthetic roles and calls: it must fail both ways when it should — a call
the rules deny, a rule no call needs — with Kubernetes' own semantics for scopes, subresources,
wildcards and resourceNames."""

from __future__ import annotations

from typing import Any

import pytest

from tests.rbac_check import Call, Grant, evaluate, grants_for, implied_checks, with_implied

SA = {"kind": "ServiceAccount", "name": "bot", "namespace": "tools"}
SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"


def _role(kind: str, name: str, rules: list[dict[str, Any]], namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"kind": kind, "metadata": meta, "rules": rules}


def _binding(
    kind: str,
    role_kind: str,
    role: str,
    namespace: str | None = None,
    subjects: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": f"{role}-binding"}
    if namespace:
        meta["namespace"] = namespace
    return {
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": subjects if subjects is not None else [SA],
    }


def _grants(*docs: dict[str, Any]) -> list[Grant]:
    return grants_for(list(docs), "tools", "bot")


NODES = {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}
PODS = {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}


def test_a_cluster_role_bound_cluster_wide_allows_its_calls_and_each_permission_is_used() -> None:
    grants = _grants(_role("ClusterRole", "r", [NODES]), _binding("ClusterRoleBinding", "ClusterRole", "r"))
    verdict = evaluate(grants, [Call("list", resource="nodes")])
    assert verdict.ok, verdict.explain()


def test_a_call_no_rule_allows_is_denied() -> None:
    grants = _grants(_role("ClusterRole", "r", [NODES]), _binding("ClusterRoleBinding", "ClusterRole", "r"))
    delete = Call("delete", resource="nodes", name="master-0")
    verdict = evaluate(grants, [Call("list", resource="nodes"), delete])
    assert verdict.denied == (delete,) and not verdict.unneeded
    assert "denied (no rule allows it): delete core/nodes master-0 (cluster-wide)" in verdict.explain()


def test_a_rule_no_call_used_is_unneeded_verb_by_verb() -> None:
    rule = {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list", "get", "watch"]}
    grants = _grants(_role("ClusterRole", "r", [rule]), _binding("ClusterRoleBinding", "ClusterRole", "r"))
    verdict = evaluate(grants, [Call("list", resource="nodes")])
    assert not verdict.denied
    assert sorted(p.verb for p in verdict.unneeded) == ["get", "watch"]
    assert "unneeded (no call used it): ClusterRole/r: get core/nodes cluster-wide" in verdict.explain()


def test_a_role_reaches_its_own_namespace_only() -> None:
    grants = _grants(
        _role("Role", "r", [PODS], namespace="openshift-etcd"),
        _binding("RoleBinding", "Role", "r", namespace="openshift-etcd"),
    )
    here = Call("list", resource="pods", namespace="openshift-etcd")
    elsewhere = Call("list", resource="pods", namespace="kube-system")
    everywhere = Call("list", resource="pods")  # a list across all namespaces is a cluster-wide call
    verdict = evaluate(grants, [here, elsewhere, everywhere])
    assert verdict.denied == (elsewhere, everywhere) and not verdict.unneeded


def test_a_role_binding_never_grants_a_cluster_scoped_object_even_with_a_cluster_role() -> None:
    grants = _grants(
        _role("ClusterRole", "r", [NODES, PODS]),
        _binding("RoleBinding", "ClusterRole", "r", namespace="apps"),
    )
    nodes, pods = Call("list", resource="nodes"), Call("list", resource="pods", namespace="apps")
    verdict = evaluate(grants, [nodes, pods])
    assert verdict.denied == (nodes,)
    assert [str(p) for p in verdict.unneeded] == ["ClusterRole/r (in apps): list core/nodes in apps"]


def test_a_role_in_a_namespace_is_not_granted_by_a_binding_elsewhere() -> None:
    grants = _grants(
        _role("Role", "r", [PODS], namespace="openshift-etcd"),
        _binding("RoleBinding", "Role", "r", namespace="openshift-machine-api"),
    )
    assert grants == []
    assert evaluate(grants, [Call("list", resource="pods", namespace="openshift-etcd")]).denied


def test_a_cluster_role_binding_cannot_use_a_role_and_other_subjects_get_nothing() -> None:
    role = _role("Role", "r", [PODS], namespace="apps")
    assert _grants(role, _binding("ClusterRoleBinding", "Role", "r")) == []
    other = [{"kind": "ServiceAccount", "name": "bot", "namespace": "elsewhere"}]
    cluster_role = _role("ClusterRole", "c", [NODES])
    assert _grants(cluster_role, _binding("ClusterRoleBinding", "ClusterRole", "c", subjects=other)) == []
    as_user = [{"kind": "User", "name": "system:serviceaccount:tools:bot"}]
    assert _grants(cluster_role, _binding("ClusterRoleBinding", "ClusterRole", "c", subjects=as_user))
    as_group = [{"kind": "Group", "name": "system:serviceaccounts:tools"}]
    assert _grants(cluster_role, _binding("ClusterRoleBinding", "ClusterRole", "c", subjects=as_group))


def test_a_subresource_needs_its_own_rule() -> None:
    grants = _grants(
        _role("Role", "r", [PODS], namespace="etcd"), _binding("RoleBinding", "Role", "r", namespace="etcd")
    )
    exec_call = Call("create", resource="pods", subresource="exec", namespace="etcd", name="etcd-0")
    assert evaluate(grants, [exec_call]).denied == (exec_call,)


@pytest.mark.parametrize("granted", ["*", "pods/*", "*/exec", "pods/exec"])
def test_resource_wildcards(granted: str) -> None:
    rule = {"apiGroups": ["*"], "resources": [granted], "verbs": ["*"]}
    grants = _grants(_role("ClusterRole", "r", [rule]), _binding("ClusterRoleBinding", "ClusterRole", "r"))
    assert evaluate(grants, [Call("get", resource="pods", subresource="exec", namespace="x", name="p")]).ok


def test_resource_wildcards_do_not_reach_too_far() -> None:
    rule = {"apiGroups": [""], "resources": ["pods/*"], "verbs": ["get"]}
    grants = _grants(_role("ClusterRole", "r", [rule]), _binding("ClusterRoleBinding", "ClusterRole", "r"))
    pods = Call("get", resource="pods", namespace="x", name="p")  # the object itself is not a subresource
    other_group = Call("get", "apps", "pods", "exec", namespace="x", name="p")
    assert evaluate(grants, [pods, other_group]).denied == (pods, other_group)


def test_resource_names_allow_only_those_objects_and_never_a_list_or_create() -> None:
    rule = {
        "apiGroups": ["operator.openshift.io"],
        "resources": ["etcds"],
        "resourceNames": ["cluster"],
        "verbs": ["get", "list", "create"],
    }
    grants = _grants(_role("ClusterRole", "r", [rule]), _binding("ClusterRoleBinding", "ClusterRole", "r"))
    good = Call("get", "operator.openshift.io", "etcds", name="cluster")
    other = Call("get", "operator.openshift.io", "etcds", name="other")
    listed = Call("list", "operator.openshift.io", "etcds")
    created = Call("create", "operator.openshift.io", "etcds")
    verdict = evaluate(grants, [good, other, listed, created])
    assert verdict.denied == (other, listed, created)
    assert sorted(p.verb for p in verdict.unneeded) == ["create", "list"]


def test_non_resource_urls() -> None:
    rule = {"nonResourceURLs": ["/version", "/healthz/*"], "verbs": ["get"]}
    grants = _grants(_role("ClusterRole", "r", [rule]), _binding("ClusterRoleBinding", "ClusterRole", "r"))
    verdict = evaluate(
        grants, [Call("get", path="/version"), Call("get", path="/healthz/etcd"), Call("get", path="/")]
    )
    assert verdict.denied == (Call("get", path="/"),) and verdict.ok is False and not verdict.unneeded
    resource = Call("get", resource="version")
    assert evaluate(grants, [resource]).denied == (resource,)


def test_audit_records_become_calls() -> None:
    record = {
        "user": "system:serviceaccount:etcdops:etcdops",
        "verb": "update",
        "apiGroup": "certificates.k8s.io",
        "apiVersion": "v1",
        "resource": "certificatesigningrequests",
        "subresource": "approval",
        "namespace": "",
        "name": "csr-1",
        "code": 200,
    }
    assert Call.from_audit(record) == Call(
        "update", "certificates.k8s.io", "certificatesigningrequests", "approval", "", "csr-1"
    )
    discovery = {
        "verb": "get",
        "apiGroup": "",
        "resource": "",
        "subresource": "",
        "namespace": "",
        "path": "/api",
    }
    assert not Call.from_audit(discovery).is_resource and Call.from_audit(discovery).path == "/api"


def test_implied_checks_of_csr_approval_and_exec() -> None:
    approval = Call("update", "certificates.k8s.io", "certificatesigningrequests", "approval", name="csr-1")
    (signer,) = implied_checks(approval, csr_signer=SIGNER)
    assert (signer.verb, signer.api_group, signer.resource, signer.name) == (
        "approve",
        "certificates.k8s.io",
        "signers",
        SIGNER,
    )
    exec_get = Call("get", "", "pods", "exec", "openshift-etcd", "etcd-0")
    create, use = implied_checks(exec_get, csr_signer=SIGNER, exec_scc={"openshift-etcd": "privileged"})
    assert (create.verb, create.full_resource, create.namespace) == ("create", "pods/exec", "openshift-etcd")
    assert (use.verb, use.resource, use.name, use.namespace) == (
        "use",
        "securitycontextconstraints",
        "privileged",
        "openshift-etcd",
    )
    assert implied_checks(Call("list", resource="pods", namespace="x"), csr_signer=SIGNER) == []
    assert len(with_implied([exec_get, exec_get], csr_signer=SIGNER)) == 2  # the call and its create, once


def test_implied_checks_make_their_rules_needed_and_missing_ones_denied() -> None:
    rules = [
        {
            "apiGroups": ["certificates.k8s.io"],
            "resources": ["certificatesigningrequests/approval"],
            "verbs": ["update"],
        },
        {
            "apiGroups": ["certificates.k8s.io"],
            "resources": ["signers"],
            "resourceNames": [SIGNER],
            "verbs": ["approve"],
        },
    ]
    grants = _grants(_role("ClusterRole", "r", rules), _binding("ClusterRoleBinding", "ClusterRole", "r"))
    approval = Call("update", "certificates.k8s.io", "certificatesigningrequests", "approval", name="csr-1")
    assert evaluate(grants, [approval]).unneeded, "without the implied check, approve looks unneeded"
    assert evaluate(grants, with_implied([approval], csr_signer=SIGNER)).ok
    verdict = evaluate(grants, with_implied([approval], csr_signer="example.com/other"))
    assert [c.name for c in verdict.denied] == ["example.com/other"]
