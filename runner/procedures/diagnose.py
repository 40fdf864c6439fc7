"""``/etcd diagnose`` (seed 2.2 and 2.3): which member is unhealthy, what state it is in, what to do.

The decision tree is the seed's, as a pure function over facts gathered read-only from the API:
``EtcdMembersAvailable`` names the unhealthy member; then, in the seed's order, the machine's
``instanceState`` (not running → 2.4.1), the node's ``unreachable`` taint or ``NotReady`` (→ 2.4.1), and
the etcd pod's ``Error``/``CrashLoopBackOff`` (→ 2.4.2). Around it, the seed's exits: quorum lost (restore
instead), certificates no longer valid (certificate recovery instead), and nothing to do.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from runner.ports import ApiUnreachable, Kube
from runner.procedures.status import ETCD_NS, condition, peer_cert_expiry, pod_row
from runner.steps import StepContext, StepSpec

MACHINE_NS = "openshift-machine-api"
UNHEALTHY = re.compile(r",\s*(.+?)\s+(?:is|are)\s+unhealthy")
CRASHING = frozenset({"Error", "CrashLoopBackOff"})
CRASHED_LATELY = dt.timedelta(minutes=5)  # a restart after an Error this recent is still a crash loop


class State(StrEnum):
    HEALTHY = "healthy"
    MACHINE_NOT_RUNNING = "machine not running"
    NODE_NOT_READY = "node not ready"
    POD_CRASHLOOPING = "etcd pod crash-looping"
    CERTIFICATES_INVALID = "certificates not valid"
    QUORUM_LOST = "quorum lost"
    API_UNREACHABLE = "API unreachable"
    UNDETERMINED = "undetermined"


PROCEDURES = {
    State.MACHINE_NOT_RUNNING: "2.4.1",
    State.NODE_NOT_READY: "2.4.1",
    State.POD_CRASHLOOPING: "2.4.2",
}


@dataclass(frozen=True)
class MachineFacts:
    name: str
    node: str
    instance_state: str


@dataclass(frozen=True)
class NodeFacts:
    name: str
    ready: bool
    unreachable: bool


@dataclass(frozen=True)
class DiagnosisFacts:
    """What the seed's commands show, gathered once."""

    api_error: str = ""
    members_status: str = ""
    members_reason: str = ""
    members_message: str = ""
    machines: tuple[MachineFacts, ...] = ()
    nodes: tuple[NodeFacts, ...] = ()
    pods: dict[str, str] = field(default_factory=dict)  # node → etcd pod STATUS as oc shows it
    cert_expiry: dict[str, dt.datetime] = field(default_factory=dict)  # node → etcd peer cert expiry
    # node → restarts, for an etcd pod caught in the moment between two crashes: its container runs
    # again, so ``oc get pods`` shows Running, but its last exit was an Error
    restarted_after_error: dict[str, tuple[int, dt.datetime]] = field(default_factory=dict)


@dataclass(frozen=True)
class Diagnosis:
    state: State
    member: str | None
    summary: str
    advice: str
    evidence: tuple[str, ...] = ()

    @property
    def procedure(self) -> str | None:
        return PROCEDURES.get(self.state)


def unhealthy_members(message: str) -> list[str]:
    """The names ``EtcdMembersAvailable`` calls unhealthy (``..., A is unhealthy`` / ``A, B are ...``)."""
    match = UNHEALTHY.search(message)
    if not match:
        return []
    return [name.strip() for name in re.split(r",\s*|\s+and\s+", match.group(1)) if name.strip()]


def diagnose(facts: DiagnosisFacts, now: dt.datetime) -> Diagnosis:
    """The seed's decision tree (2.2, 2.3) over the gathered facts. Pure."""
    if facts.api_error:
        return Diagnosis(
            State.API_UNREACHABLE,
            None,
            f"The Kubernetes API does not answer: {facts.api_error}",
            "If etcd has lost quorum, member replacement cannot help: restore the cluster from a backup "
            "(`/etcd restore`). Check `/etcd status` once the API answers again.",
        )
    condition_line = (
        f"EtcdMembersAvailable={facts.members_status} ({facts.members_reason}): {facts.members_message}"
    )
    if facts.members_status == "False" or facts.members_reason == "NoQuorum":
        return Diagnosis(
            State.QUORUM_LOST,
            None,
            f"etcd has lost quorum: {facts.members_message}",
            "Replacing a member needs a quorum. Follow the disaster recovery procedure: restore the "
            "cluster to a previous state from a backup (`/etcd restore`).",
            (condition_line,),
        )
    names = unhealthy_members(facts.members_message)
    if not names:
        return Diagnosis(
            State.HEALTHY,
            None,
            f"All etcd members are healthy: {facts.members_message or 'no unhealthy member reported'}",
            "No procedure is needed.",
            (condition_line,),
        )
    member = names[0]
    evidence = [condition_line]
    if len(names) > 1:
        evidence.append(
            f"{len(names)} members are unhealthy ({', '.join(names)}): replace them one at a time"
        )
    expiry = facts.cert_expiry.get(member)
    if expiry is not None and expiry <= now:
        return Diagnosis(
            State.CERTIFICATES_INVALID,
            member,
            f"{member}'s etcd certificates expired on {expiry:%Y-%m-%d %H:%M} UTC",
            "Replacing the member would not help: follow the procedure to recover from expired control "
            "plane certificates instead.",
            (*evidence, f"etcd-peer-{member} expired {expiry:%Y-%m-%d %H:%M} UTC"),
        )
    machine = next((m for m in facts.machines if m.node == member), None)
    if machine is not None:
        evidence.append(f"machine {machine.name}: instanceState {machine.instance_state or '(none)'}")
    back_soon = "If you expect it back soon, no procedure is needed: the etcd operator syncs when it returns."
    if machine is not None and machine.instance_state != "running":
        return Diagnosis(
            State.MACHINE_NOT_RUNNING,
            member,
            f"{member} is unhealthy: its machine {machine.name} is not running ({machine.instance_state}).",
            f"Replace it (seed 2.4.1): `/etcd replace {member}`. {back_soon}",
            tuple(evidence),
        )
    node = next((n for n in facts.nodes if n.name == member), None)
    if node is not None:
        taint = " with the node.kubernetes.io/unreachable taint" if node.unreachable else ""
        evidence.append(f"node {node.name}: {'Ready' if node.ready else 'NotReady'}{taint}")
    if node is not None and (node.unreachable or not node.ready):
        why = "unreachable" if node.unreachable else "NotReady"
        return Diagnosis(
            State.NODE_NOT_READY,
            member,
            f"{member} is unhealthy: its node is not ready ({why}).",
            f"Replace it (seed 2.4.1): `/etcd replace {member}`. {back_soon}",
            tuple(evidence),
        )
    pod = facts.pods.get(member)
    restarts, crashed_at = facts.restarted_after_error.get(member, (0, None))
    crashed_lately = crashed_at is not None and now - crashed_at <= CRASHED_LATELY
    if pod is not None:
        after = (
            f", restarted {restarts} times, last exit Error at {crashed_at:%H:%M:%S}" if crashed_at else ""
        )
        evidence.append(f"etcd-{member}: {pod}{after}")
    if pod in CRASHING or crashed_lately:
        pod = pod if pod in CRASHING else "Error, restarting"
        return Diagnosis(
            State.POD_CRASHLOOPING,
            member,
            f"{member} is unhealthy: its etcd pod is crash-looping ({pod}).",
            f"Replace it (seed 2.4.2): `/etcd replace {member}`.",
            tuple(evidence),
        )
    return Diagnosis(
        State.UNDETERMINED,
        member,
        f"{member} is unhealthy, but its machine runs, its node is Ready and its etcd pod is "
        f"{pod or 'not found'}.",
        "None of the seed's states applies yet: it may be starting or catching up. Look at `/etcd status` "
        "and the etcd pod's logs, and diagnose again in a minute.",
        tuple(evidence),
    )


def gather_diagnosis_facts(kube: Kube) -> DiagnosisFacts:
    """The seed's commands as API reads: etcd's condition, machines, master nodes, etcd pods, certs."""
    try:
        etcd = kube.get("etcd", "cluster")
        machines = kube.list("machines", MACHINE_NS)
        nodes = kube.list("nodes", label_selector="node-role.kubernetes.io/master")
        pods = [p for p in kube.list("pods", ETCD_NS) if str(p["metadata"]["name"]).startswith("etcd-")]
        secrets = kube.list("secrets", ETCD_NS)
    except ApiUnreachable as exc:
        return DiagnosisFacts(api_error=str(exc))
    members = condition(etcd, "EtcdMembersAvailable")
    machine_facts = []
    for machine in machines:
        status = machine.get("status") or {}
        machine_facts.append(
            MachineFacts(
                name=str(machine["metadata"]["name"]),
                node=str((status.get("nodeRef") or {}).get("name", "")),
                instance_state=str((status.get("providerStatus") or {}).get("instanceState", "")),
            )
        )
    node_facts = []
    for node in nodes:
        taints = (node.get("spec") or {}).get("taints") or []
        node_facts.append(
            NodeFacts(
                name=str(node["metadata"]["name"]),
                ready=condition(node, "Ready").get("status") == "True",
                unreachable=any(t.get("key") == "node.kubernetes.io/unreachable" for t in taints),
            )
        )
    pod_status = {row.node: row.status for row in (pod_row(p) for p in pods)}
    restarted = dict(found for found in map(_restarts_after_error, pods) if found is not None)
    return DiagnosisFacts(
        members_status=str(members.get("status", "")),
        members_reason=str(members.get("reason", "")),
        members_message=str(members.get("message", "")),
        machines=tuple(machine_facts),
        nodes=tuple(node_facts),
        pods=pod_status,
        cert_expiry=peer_cert_expiry(secrets),
        restarted_after_error=restarted,
    )


def _restarts_after_error(pod: dict[str, Any]) -> tuple[str, tuple[int, dt.datetime]] | None:
    """(node, (restarts, when)) when one of the pod's containers was restarted after an Error exit.

    A crash-looping etcd shows ``Running`` for the seconds each restart lives; the seed's operator
    reading ``oc get pods`` twice would still call it crash-looping, and so does this.
    """
    node = str((pod.get("spec") or {}).get("nodeName", ""))
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        last = (container.get("lastState") or {}).get("terminated") or {}
        count = int(container.get("restartCount", 0))
        if count and last.get("reason") == "Error" and last.get("finishedAt"):
            finished = dt.datetime.fromisoformat(str(last["finishedAt"]).replace("Z", "+00:00"))
            return node, (count, finished)
    return None


ICONS = {
    State.HEALTHY: ":large_green_circle:",
    State.MACHINE_NOT_RUNNING: ":warning:",
    State.NODE_NOT_READY: ":warning:",
    State.POD_CRASHLOOPING: ":warning:",
    State.UNDETERMINED: ":grey_question:",
}


def render_diagnosis(cluster: str, diagnosis: Diagnosis) -> tuple[str, list[dict[str, Any]]]:
    """The Slack message: text fallback and Block Kit (pure)."""
    icon = ICONS.get(diagnosis.state, ":red_circle:")
    procedure = f" — seed procedure {diagnosis.procedure}" if diagnosis.procedure else ""
    headline = f"{icon} *{cluster}* diagnosis: *{diagnosis.state.value}*{procedure}"
    evidence = "\n".join(f"• {line}" for line in diagnosis.evidence)
    text = "\n".join([headline, diagnosis.summary, diagnosis.advice, *([evidence] if evidence else [])])
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{headline}\n{diagnosis.summary}"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*What to do:* {diagnosis.advice}"}},
    ]
    if evidence:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": evidence}]})
    return text, blocks


class DiagnoseProcedure:
    """``/etcd diagnose`` as a read-only run of one step, like ``/etcd status``; the relay posts it."""

    name = "diagnose"
    destructive = False
    adaptive = False

    def __init__(
        self, kube: Callable[[str], Kube], now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    ) -> None:
        self._kube = kube
        self._now = now

    def steps(self, context: StepContext) -> list[StepSpec]:
        def examine(ctx: StepContext) -> dict[str, Any]:
            found = diagnose(gather_diagnosis_facts(self._kube(ctx.cluster)), self._now())
            text, blocks = render_diagnosis(ctx.cluster, found)
            return {
                "state": found.state.value,
                "member": found.member,
                "procedure": found.procedure,
                "text": text,
                "blocks": blocks,
            }

        return [StepSpec("examine", "Follow the seed's checks (2.2, 2.3)", examine, attempts=1)]

    def summary(self, context: StepContext) -> str:
        return str(context.results.get("examine", {}).get("text", "")).split("\n", 1)[0]
