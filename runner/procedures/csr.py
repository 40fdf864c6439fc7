"""``/etcd csr`` — seed 3.4: approving the node-bootstrapper CSRs after kubelet certificates expired.

Approving a CSR hands out a node's identity, so each pending one is checked first, purely, and shown
with its checks: requested by the node-bootstrapper service account, for the kubelet client signer,
subject ``system:node:<name>`` in ``system:nodes`` naming a node or machine the cluster knows, and only
the usages a kubelet client certificate has. Only CSRs passing every check are offered for approval
(the ``csr_approval`` policy); the rest are listed with the reason and never approved. The approval is
bound to the exact set of CSRs, re-read right before approving.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from runner.procedures.backup import ClusterClients
from runner.procedures.diagnose import MACHINE_NS
from runner.procedures.status import condition
from runner.steps import Probe, ProbeResult, StepContext, StepFailed, StepSpec

BOOTSTRAPPER = "system:serviceaccount:openshift-machine-config-operator:node-bootstrapper"
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
CLIENT_USAGES = frozenset({"digital signature", "key encipherment", "client auth"})
NODE_PREFIX = "system:node:"
READY_WAIT = 180.0


@dataclass(frozen=True)
class CsrCheck:
    """One pending CSR as ``oc get csr`` shows it, with what the checks found."""

    name: str
    requestor: str
    signer: str
    subject: str
    age: str
    node: str = ""
    problems: tuple[str, ...] = field(default=())

    @property
    def valid(self) -> bool:
        return not self.problems

    def line(self) -> str:
        verdict = "valid" if self.valid else "NOT approved: " + "; ".join(self.problems)
        return f"{self.name}  {self.age}  {self.signer}  {self.requestor}  {self.subject}  → {verdict}"


def _age(created: str, now: dt.datetime) -> str:
    if not created:
        return "?"
    seconds = int((now - dt.datetime.fromisoformat(created.replace("Z", "+00:00"))).total_seconds())
    return f"{seconds // 60}m" if seconds >= 60 else f"{max(seconds, 0)}s"


def _subject(spec: dict[str, Any]) -> tuple[str, list[str], str]:
    """(CN, O values, printable subject) of the CSR's PEM request, or a reason it cannot be read."""
    try:  # the subject is decoded lazily, on first access: it belongs inside the try as well
        request = x509.load_pem_x509_csr(base64.b64decode(str(spec.get("request", ""))))
        names = request.subject
        common = [str(a.value) for a in names.get_attributes_for_oid(NameOID.COMMON_NAME)]
        orgs = [str(a.value) for a in names.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        return (common[0] if common else ""), orgs, names.rfc4514_string()
    except ValueError as exc:
        return "", [], f"(unreadable request: {exc})"


def pending(csr: dict[str, Any]) -> bool:
    conditions = (csr.get("status") or {}).get("conditions") or []
    return not any(c.get("type") in ("Approved", "Denied", "Failed") for c in conditions)


def check_csr(csr: dict[str, Any], known: set[str], now: dt.datetime) -> CsrCheck:
    """The seed's checks on one CSR (pure): who asked, for which signer, for which node, for what."""
    spec = csr.get("spec") or {}
    requestor, signer = str(spec.get("username", "")), str(spec.get("signerName", ""))
    common, orgs, subject = _subject(spec)
    problems = []
    if requestor != BOOTSTRAPPER:
        problems.append(f"requested by {requestor or 'nobody'}, not the node-bootstrapper service account")
    if signer != CLIENT_SIGNER:
        problems.append(f"signer {signer or 'none'}, not {CLIENT_SIGNER}")
    node = common.removeprefix(NODE_PREFIX) if common.startswith(NODE_PREFIX) else ""
    if not node:
        problems.append(f"subject {subject} is not system:node:<name>")
    elif node not in known:
        problems.append(f"{node} is neither a node nor a machine of this cluster")
    if orgs != ["system:nodes"]:
        problems.append(f"organization {', '.join(orgs) or 'none'}, not system:nodes")
    usages = set(spec.get("usages") or [])
    if not usages or not usages <= CLIENT_USAGES or "client auth" not in usages:
        problems.append(f"usages {', '.join(sorted(usages)) or 'none'} are not a kubelet client's")
    meta = csr.get("metadata") or {}
    return CsrCheck(
        name=str(meta.get("name", "")),
        requestor=requestor,
        signer=signer,
        subject=subject,
        age=_age(str(meta.get("creationTimestamp", "")), now),
        node=node,
        problems=tuple(problems),
    )


class CsrProcedure:
    """Inspect the pending CSRs; if any are valid, approve exactly those (approval) and wait for their
    nodes to be Ready. Adaptive: what is approved follows from the inspection."""

    name = "csr"
    destructive = False
    adaptive = True

    def __init__(
        self,
        clients: Callable[[str], ClusterClients],
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        poll: float = 2.0,
    ) -> None:
        self._clients = clients
        self._now = now
        self._poll = poll

    def steps(self, context: StepContext) -> list[StepSpec]:
        kube = self._clients(context.cluster).kube

        def inspect_now() -> list[CsrCheck]:
            known = {str(n["metadata"]["name"]) for n in kube.list("nodes")}
            for machine in kube.list("machines", MACHINE_NS):
                known.add(str(machine["metadata"]["name"]))
                node = ((machine.get("status") or {}).get("nodeRef") or {}).get("name")
                if node:
                    known.add(str(node))
            now = self._now()
            return sorted(
                (check_csr(c, known, now) for c in kube.list("csr") if pending(c)), key=lambda c: c.name
            )

        def inspect(ctx: StepContext) -> dict[str, Any]:
            checks = inspect_now()
            valid = [c for c in checks if c.valid]
            lines = "\n".join(c.line() for c in checks) or "no pending CSR"
            return {
                "valid": [c.name for c in valid],
                "nodes": sorted({c.node for c in valid}),
                "refused": [c.name for c in checks if not c.valid],
                "log": f"Pending CSRs and their checks:\n{lines}",
            }

        inspect_step = StepSpec("inspect", "List the pending CSRs and check each", inspect)
        found = context.results.get("inspect")
        if found is None or not found["valid"]:
            return [inspect_step]
        chosen = set(found["valid"])

        def describe(ctx: StepContext) -> dict[str, Any]:
            live = {c.name: c for c in inspect_now()}
            approvable = [live[name] for name in sorted(chosen) if name in live and live[name].valid]
            refused = [c for c in live.values() if not c.valid]
            plan: dict[str, Any] = {
                "commands": [f"oc adm certificate approve {c.name}" for c in approvable],
                "CSRs": [f"{c.name}: {c.subject} from {c.requestor}" for c in approvable],
            }
            if refused:  # without their ages, which change by the minute and would void the approval
                plan["never approved"] = [
                    f"{c.name}: {c.subject} from {c.requestor}: {'; '.join(c.problems)}" for c in refused
                ]
            return plan

        def approve(ctx: StepContext) -> dict[str, Any]:
            live = {c.name: c for c in inspect_now()}
            approved = []
            for name in sorted(chosen):
                check = live.get(name)
                if check is None or not check.valid:
                    continue  # approved meanwhile, or no longer valid: never approve it blind
                csr = kube.get("csr", name)
                status = csr.setdefault("status", {})
                status["conditions"] = [
                    *(status.get("conditions") or []),
                    {
                        "type": "Approved",
                        "status": "True",
                        "reason": "EtcdopsApproved",
                        "message": f"approved through etcdops run {ctx.run_id} (seed 3.4)",
                    },
                ]
                kube.update("csr", csr, subresource="approval")
                approved.append(name)
            return {"approved": approved, "log": "\n".join(f"{n} approved" for n in approved) or "none left"}

        def approve_probe(ctx: StepContext) -> ProbeResult:
            still = {c.name for c in inspect_now()} & chosen
            if still:
                return ProbeResult(Probe.REDO, f"still pending: {', '.join(sorted(still))}")
            return ProbeResult(Probe.DONE, "the CSRs are no longer pending", {"approved": sorted(chosen)})

        def wait_ready(ctx: StepContext) -> dict[str, Any]:
            wanted = set(found["nodes"])
            deadline = time.monotonic() + READY_WAIT
            while True:
                nodes = {str(n["metadata"]["name"]): n for n in kube.list("nodes")}
                not_ready = sorted(
                    n for n in wanted if condition(nodes.get(n, {}), "Ready").get("status") != "True"
                )
                if not not_ready:
                    return {"log": f"Ready: {', '.join(sorted(wanted))}"}
                if time.monotonic() > deadline:
                    raise StepFailed(
                        f"still NotReady {READY_WAIT:.0f} s after approval: {', '.join(not_ready)}. New CSRs "
                        "may be pending (kubelet serving certificates): run `/etcd csr` again."
                    )
                time.sleep(self._poll)

        return [
            inspect_step,
            StepSpec(
                "approve",
                "Approve the valid node-bootstrapper CSRs",
                approve,
                approve_probe,
                approval="csr_approval",
                describe=describe,
            ),
            StepSpec("wait-ready", "Wait for their nodes to be Ready", wait_ready, attempts=1),
        ]

    def summary(self, context: StepContext) -> str:
        found = context.results.get("inspect") or {}
        refused = found.get("refused") or []
        never = f"; never approved: {', '.join(refused)}" if refused else ""
        if not found.get("valid"):
            return f"no valid node-bootstrapper CSR pending{never}"
        approved = (context.results.get("approve") or {}).get("approved") or []
        nodes = ", ".join(found.get("nodes") or [])
        return f"approved {', '.join(approved) or 'none'}; Ready: {nodes}{never}"
