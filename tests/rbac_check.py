"""Kubernetes RBAC, evaluated purely: given Roles, ClusterRoles and their bindings (rendered manifests)
and the API calls one identity made, which calls would be denied, and which granted permissions no call
needed.

Used both ways by the tests: tests/deploy checks deploy/base/rbac.yaml against the calls found in the
code, and the lab suite's last test against every call the bot made to the lab's API server (the audit
log). The semantics are the RBAC authorizer's (k8s.io/kubernetes plugin/pkg/auth/authorizer/rbac):

- a ClusterRoleBinding grants its ClusterRole everywhere: cluster-scoped objects and every namespace;
- a RoleBinding grants its Role, or a ClusterRole it names, in the binding's namespace only, so never a
  cluster-scoped object;
- a rule matches when its apiGroups, resources (``resource/subresource`` for a subresource; ``*``,
  ``*/sub`` and ``res/*`` wildcards) and verbs match, and its resourceNames, when it has any, name the
  object (a list or a create has no name, so such a rule never allows those);
- nonResourceURLs (only meaningful in ClusterRoles bound cluster-wide) match a path exactly or by a
  trailing ``*``.

Some requests need more than their own verb. :func:`implied_checks` adds the further authorization
checks the API server and OpenShift's admission make for a call (approving a CSR checks ``approve`` on
its signer; an exec over a websocket checks ``create`` too; OpenShift checks the right to ``use`` the
SCC that admits the pod one execs into), so a rule granting them counts as needed.

"Unneeded" is reported per permission: each (apiGroup, resource, verb, scope) a rule expands to, with
its resourceNames, that no call was allowed by.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Call",
    "Grant",
    "Permission",
    "Verdict",
    "evaluate",
    "grants_for",
    "implied_checks",
    "service_account_user",
    "with_implied",
]


@dataclass(frozen=True)
class Call:
    """One authorization check: what the audit log records of a request (or what a request implies)."""

    verb: str
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""  # "" for a cluster-scoped object (or a list across all namespaces)
    name: str = ""
    path: str = ""  # a non-resource request (/version, /healthz…): no resource then
    why: str = ""  # for implied checks: what implies it

    @property
    def is_resource(self) -> bool:
        return not self.path

    @property
    def full_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource

    def __str__(self) -> str:
        if not self.is_resource:
            return f"{self.verb} {self.path}"
        group = self.api_group or "core"
        where = f" in {self.namespace}" if self.namespace else " (cluster-wide)"
        named = f" {self.name}" if self.name else ""
        because = f" [{self.why}]" if self.why else ""
        return f"{self.verb} {group}/{self.full_resource}{named}{where}{because}"

    @classmethod
    def from_audit(cls, record: Mapping[str, Any]) -> Call:
        """A call from one line of the lab's audit log (lab/kube/audit.py)."""
        return cls(
            verb=str(record.get("verb", "")),
            api_group=str(record.get("apiGroup", "")),
            resource=str(record.get("resource", "")),
            subresource=str(record.get("subresource", "")),
            namespace=str(record.get("namespace", "")),
            name=str(record.get("name", "")),
            path=str(record.get("path", "")) if not record.get("resource") else "",
        )


@dataclass(frozen=True)
class Grant:
    """One rule of a role, in effect where its binding puts it (``namespace`` None: cluster-wide)."""

    role: str  # "ClusterRole/etcdops" or "Role/openshift-etcd/etcdops", for messages
    namespace: str | None
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    def permissions(self) -> Iterator[Permission]:
        scope = self.namespace
        names = tuple(sorted(self.resource_names))
        for verb in self.verbs:
            for group in self.api_groups:
                for resource in self.resources:
                    yield Permission(self.role, scope, verb, group, resource, names)
            for url in self.non_resource_urls:
                yield Permission(self.role, scope, verb, "", "", (), url)


@dataclass(frozen=True)
class Permission:
    """The unit "unneeded" is reported in: one verb on one resource of one group, where it applies."""

    role: str
    namespace: str | None
    verb: str
    api_group: str
    resource: str
    resource_names: tuple[str, ...] = ()
    non_resource_url: str = ""

    def allows(self, call: Call) -> bool:
        if not _matches(self.verb, call.verb):
            return False
        if not call.is_resource:
            cluster_wide = self.namespace is None and bool(self.non_resource_url)
            return cluster_wide and _url(self.non_resource_url, call)
        if self.non_resource_url:
            return False
        if self.namespace is not None and call.namespace != self.namespace:
            return False  # a RoleBinding reaches its namespace only, never a cluster-scoped object
        if not _matches(self.api_group, call.api_group) or not _resource(self.resource, call):
            return False
        return not self.resource_names or (bool(call.name) and call.name in self.resource_names)

    def __str__(self) -> str:
        if self.non_resource_url:
            return f"{self.role}: {self.verb} {self.non_resource_url}"
        group = self.api_group or "core"
        names = f" [{', '.join(self.resource_names)}]" if self.resource_names else ""
        where = f"in {self.namespace}" if self.namespace is not None else "cluster-wide"
        return f"{self.role}: {self.verb} {group}/{self.resource}{names} {where}"


@dataclass(frozen=True)
class Verdict:
    denied: tuple[Call, ...] = field(default=())
    unneeded: tuple[Permission, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.denied and not self.unneeded

    def explain(self) -> str:
        lines = [f"denied (no rule allows it): {call}" for call in self.denied]
        lines += [f"unneeded (no call used it): {permission}" for permission in self.unneeded]
        return "\n".join(lines) or "every call allowed, every rule needed"


def _matches(granted: str, wanted: str) -> bool:
    return granted in ("*", wanted)


def _resource(granted: str, call: Call) -> bool:
    if granted in ("*", call.full_resource):
        return True
    if "/" in granted:
        main, _, sub = granted.partition("/")
        if main == "*" and call.subresource and sub == call.subresource:
            return True
        if sub == "*" and call.subresource and main == call.resource:
            return True
    return False


def _url(granted: str, call: Call) -> bool:
    if granted.endswith("*"):
        return call.path.startswith(granted[:-1])
    return call.path == granted


def service_account_user(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def _binds(subjects: Iterable[Mapping[str, Any]], namespace: str, name: str) -> bool:
    user = service_account_user(namespace, name)
    groups = {"system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"}
    for subject in subjects:
        kind = subject.get("kind")
        if kind == "ServiceAccount" and subject.get("name") == name and subject.get("namespace") == namespace:
            return True
        if kind == "User" and subject.get("name") == user:
            return True
        if kind == "Group" and subject.get("name") in groups:
            return True
    return False


def grants_for(docs: Sequence[Mapping[str, Any]], namespace: str, name: str) -> list[Grant]:
    """Every rule the ServiceAccount ``namespace/name`` holds through the bindings in ``docs``."""
    cluster_roles = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "ClusterRole"}
    roles = {
        (d["metadata"].get("namespace", ""), d["metadata"]["name"]): d
        for d in docs
        if d.get("kind") == "Role"
    }
    grants: list[Grant] = []
    for doc in docs:
        kind = doc.get("kind")
        if kind not in ("ClusterRoleBinding", "RoleBinding") or not _binds(
            doc.get("subjects") or (), namespace, name
        ):
            continue
        ref = doc["roleRef"]
        where = None if kind == "ClusterRoleBinding" else str(doc["metadata"].get("namespace", ""))
        if ref["kind"] == "ClusterRole":
            role = cluster_roles.get(ref["name"])
            label = f"ClusterRole/{ref['name']}"
        elif kind == "RoleBinding":
            role = roles.get((where or "", ref["name"]))
            label = f"Role/{where}/{ref['name']}"
        else:
            continue  # a ClusterRoleBinding cannot name a Role
        if role is None:
            continue  # a binding to a role that does not exist grants nothing
        for rule in role.get("rules") or ():
            grants.append(
                Grant(
                    role=label if where is None or ref["kind"] == "Role" else f"{label} (in {where})",
                    namespace=where,
                    api_groups=tuple(rule.get("apiGroups") or ()),
                    resources=tuple(rule.get("resources") or ()),
                    verbs=tuple(rule.get("verbs") or ()),
                    resource_names=tuple(rule.get("resourceNames") or ()),
                    non_resource_urls=tuple(rule.get("nonResourceURLs") or ()),
                )
            )
    return grants


def implied_checks(call: Call, *, csr_signer: str, exec_scc: Mapping[str, str] | None = None) -> list[Call]:
    """The further authorization checks a real API server makes for ``call``, beyond its own verb.

    - Approving a CSR (update of ``certificatesigningrequests/approval``): ``approve`` on
      ``certificates.k8s.io/signers`` named by the CSR's signer (the CertificateApproval admission);
      ``csr_signer`` is the one signer the code approves for.
    - Exec over a websocket (a GET, authorized as ``get`` on ``pods/exec``): since Kubernetes 1.31,
      also ``create`` (AuthorizePodWebsocketUpgradeCreatePermission, on by default).
    - Exec in OpenShift: SCCExecRestrictions admits an exec only when the user could create the pod,
      i.e. may ``use`` an SCC that admits it; ``exec_scc`` maps a namespace to the SCC its pods need.
    """
    implied: list[Call] = []
    if (call.api_group, call.resource, call.subresource, call.verb) == (
        "certificates.k8s.io",
        "certificatesigningrequests",
        "approval",
        "update",
    ):
        implied.append(
            Call("approve", "certificates.k8s.io", "signers", name=csr_signer, why=f"implied by {call}")
        )
    if call.api_group == "" and call.resource == "pods" and call.subresource == "exec":
        if call.verb == "get":
            implied.append(
                Call("create", "", "pods", "exec", call.namespace, call.name, why=f"implied by {call}")
            )
        scc = (exec_scc or {}).get(call.namespace)
        if scc:
            implied.append(
                Call(
                    "use",
                    "security.openshift.io",
                    "securitycontextconstraints",
                    namespace=call.namespace,
                    name=scc,
                    why=f"implied by {call}",
                )
            )
    return implied


def with_implied(
    calls: Iterable[Call], *, csr_signer: str, exec_scc: Mapping[str, str] | None = None
) -> list[Call]:
    """The calls, each followed by the checks it implies (:func:`implied_checks`), without repeats."""
    expanded: dict[Call, None] = {}
    for call in calls:
        expanded[call] = None
        for implied in implied_checks(call, csr_signer=csr_signer, exec_scc=exec_scc):
            expanded.setdefault(implied, None)
    return list(expanded)


def evaluate(grants: Sequence[Grant], calls: Iterable[Call]) -> Verdict:
    """Which calls no grant allows, and which permissions no call was allowed by."""
    permissions = list(dict.fromkeys(p for g in grants for p in g.permissions()))
    used: set[Permission] = set()
    denied: dict[Call, None] = {}
    for call in dict.fromkeys(calls):
        allowing = [p for p in permissions if p.allows(call)]
        if not allowing:
            denied[call] = None
        used.update(allowing)
    return Verdict(denied=tuple(denied), unneeded=tuple(p for p in permissions if p not in used))
