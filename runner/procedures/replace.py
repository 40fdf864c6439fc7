"""``/etcd replace MEMBER`` — seed 2.4: replacing an unhealthy member (2.4.1 or 2.4.2).

The planner is pure: from the diagnosis (seed 2.3) and the member list it decides whether a replacement
is right at all — never a healthy, unknown or last voting member, never without quorum — and which
procedure applies. The steps follow the seed one by one, each with a probe so a restart neither redoes
nor skips one. Seed 2.4.2 (crash-looping pod): move the pod's manifest and the data directory aside,
remove the member (approval), delete its three secrets (approval), force a redeployment with a unique
reason, wait until every member is healthy. Seed 2.4.1 (machine not running, node not ready) removes the
member and its secrets the same way, then replaces the machine: saved, cleaned and renamed to the next
free index, deleted (approval), created anew, and waited for until its etcd pod runs and every member
is healthy. The diagnosis is the first step; the rest of the plan follows from it (adaptive procedure).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runner.ports import ApiUnreachable, Kube, path_exists
from runner.procedures.backup import ClusterClients, gather_backup_facts
from runner.procedures.diagnose import Diagnosis, DiagnosisFacts, State, diagnose, gather_diagnosis_facts
from runner.procedures.status import ETCD_NS, pod_row
from runner.steps import Probe, ProbeResult, StepContext, StepFailed, StepSpec

MEMBER_ID = re.compile(r"^[0-9a-f]{1,16}$")
MACHINE_NS = "openshift-machine-api"
MANIFEST = "/etc/kubernetes/manifests/etcd-pod.yaml"
MANIFEST_ASIDE = "/var/lib/etcd-backup"
DATA_DIR = "/var/lib/etcd"
SECRET_KINDS = ("etcd-peer", "etcd-serving", "etcd-serving-metrics")
HEALTHY_WAIT = 300.0
PODS_BEFORE_FORCING = 90.0
UNDETERMINED_GRACE = 30.0  # how long a member that fits none of the seed's states is looked at again


@dataclass(frozen=True)
class Member:
    id: str  # hex, as etcdctl prints it in tables
    name: str
    learner: bool = False


@dataclass(frozen=True)
class Replacement:
    procedure: str  # "2.4.2"
    node: str
    ip: str
    member_id: str
    via_pod: str  # a healthy etcd pod, not on the node being replaced
    reason: str  # the unique forceRedeploymentReason
    machine: str = ""  # 2.4.1: the machine to replace, and its successor's name
    new_machine: str = ""

    def commands(self) -> list[str]:
        secrets = [f"oc delete secret -n {ETCD_NS} {kind}-{self.node}" for kind in SECRET_KINDS]
        remove = f"oc rsh -n {ETCD_NS} {self.via_pod} etcdctl member remove {self.member_id}"
        if self.procedure == "2.4.1":
            return [
                remove,
                *secrets,
                f"oc get machine {self.machine} -n {MACHINE_NS} -o yaml > new-master-machine.yaml",
                f"edit it: drop status and spec.providerID, name it {self.new_machine}, fix selfLink",
                f"oc delete machine -n {MACHINE_NS} {self.machine}",
                "oc apply -f new-master-machine.yaml",
                f"wait for {self.new_machine} to be Running and for its etcd pod "
                f"(forceRedeploymentReason {self.reason} if only two etcd pods appear)",
                f"oc rsh -n {ETCD_NS} <a healthy etcd pod> etcdctl endpoint health --cluster",
            ]
        return [
            f"ssh core@{self.ip} sudo mkdir -p {MANIFEST_ASIDE}",
            f"ssh core@{self.ip} sudo mv {MANIFEST} {MANIFEST_ASIDE}/",
            f"ssh core@{self.ip} sudo mv {DATA_DIR}/ /tmp",
            remove,
            *secrets,
            "oc patch etcd cluster --type=merge -p "
            f'\'{{"spec": {{"forceRedeploymentReason": "{self.reason}"}}}}\'',
            f"oc rsh -n {ETCD_NS} <a healthy etcd pod> etcdctl endpoint health --cluster",
        ]


class Refused(Exception):
    """Replacing this member now would be wrong; the message says why and what to do instead."""


def members_of(kube: Kube, pod: str) -> list[Member]:
    listed = kube.exec(ETCD_NS, pod, ["etcdctl", "member", "list", "-w", "json"], container="etcdctl")
    if not listed.ok:
        raise StepFailed(f"etcdctl member list in {pod} failed: {listed.stderr.strip()}", retryable=True)
    return [
        Member(f"{int(m['ID']):x}", str(m.get("name") or ""), bool(m.get("isLearner")))
        for m in json.loads(listed.stdout).get("members") or []
    ]


def plan_replacement(
    wanted: str,
    state: State,
    unhealthy: str | None,
    members: list[Member],
    ips: dict[str, str],
    via_pod: str,
    reason: str,
    advice: str,
    machines: dict[str, str] | None = None,
) -> Replacement:
    """Pure: refuse what must not be done, else the replacement of ``wanted`` (node name or member ID).
    ``machines`` maps machine names to their nodes (2.4.1 replaces the member's machine)."""
    if state in (State.QUORUM_LOST, State.API_UNREACHABLE):
        raise Refused(f"etcd has no quorum, so no member can be replaced. {advice}")
    member = next((m for m in members if wanted in (m.name, m.id)), None)
    if member is None:
        known = ", ".join(f"{m.name} ({m.id})" for m in members) or "none"
        raise Refused(f"`{wanted}` is not an etcd member; the members are {known}.")
    voting = [m for m in members if not m.learner]
    if not member.learner and len(voting) <= 1:
        raise Refused(f"{member.name} is the last voting member: removing it would destroy the cluster.")
    if state == State.HEALTHY or unhealthy != member.name:
        raise Refused(
            f"{member.name} is healthy (the unhealthy member is {unhealthy or 'none'}): nothing to replace."
        )
    if state in (State.MACHINE_NOT_RUNNING, State.NODE_NOT_READY):
        machines = machines or {}
        machine = next((name for name, node in machines.items() if node == member.name), None)
        if machine is None:
            raise Refused(
                f"{member.name}: no machine of openshift-machine-api runs this node; replace it by hand."
            )
        return Replacement(
            "2.4.1",
            member.name,
            ips.get(member.name, ""),
            member.id,
            via_pod,
            reason,
            machine,
            next_machine_name(machine, list(machines)),
        )
    if state != State.POD_CRASHLOOPING:
        raise Refused(f"{member.name}: {advice}")
    return Replacement("2.4.2", member.name, ips.get(member.name, ""), member.id, via_pod, reason)


def clean_machine(machine: dict[str, Any], new_name: str) -> dict[str, Any]:
    """The seed's edit of the saved machine: no status, no providerID, the new name and selfLink."""
    saved = copy.deepcopy(machine)
    saved.pop("status", None)
    (saved.get("spec") or {}).pop("providerID", None)
    meta = saved.setdefault("metadata", {})
    for volatile in ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"):
        meta.pop(volatile, None)
    meta["name"] = new_name
    meta["selfLink"] = f"/apis/machine.openshift.io/v1beta1/namespaces/{MACHINE_NS}/machines/{new_name}"
    return saved


def next_machine_name(machine: str, names: list[str]) -> str:
    """``lab-8qw5l-master-0`` → ``lab-8qw5l-master-3`` when 0–2 exist: the next free index (the seed)."""
    match = re.fullmatch(r"(.*-)(\d+)", machine)
    if match is None:
        return f"{machine}-replacement"
    prefix = match.group(1)
    taken = [int(m.group(1)) for n in names if (m := re.fullmatch(re.escape(prefix) + r"(\d+)", n))]
    return f"{prefix}{max(taken, default=-1) + 1}"


def healthy_pod(kube: Kube, avoid: str) -> str:
    pods = [pod_row(p) for p in kube.list("pods", ETCD_NS) if str(p["metadata"]["name"]).startswith("etcd-")]
    for pod in pods:
        ready, total = pod.ready.split("/")
        if pod.node != avoid and pod.status == "Running" and ready == total:
            return pod.name
    raise StepFailed("no healthy etcd pod to run etcdctl in", retryable=True)


class ReplaceProcedure:
    name = "replace"
    destructive = True
    adaptive = True  # the diagnosis (step 1) chooses seed 2.4.1 or 2.4.2

    def __init__(
        self,
        clients: Callable[[str], ClusterClients],
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        poll: float = 3.0,
    ) -> None:
        self._clients = clients
        self._now = now
        self._poll = poll

    def steps(self, context: StepContext) -> list[StepSpec]:
        clients = self._clients(context.cluster)
        kube, hosts = clients.kube, clients.hosts
        wanted = str(context.params["member"])

        def settled_diagnosis() -> tuple[DiagnosisFacts, Diagnosis]:
            """The diagnosis, looked at again for a while when it is undetermined.

            A member between two states (its crash-looping pod recreated, a restart the API has not
            reported yet) fits none of the seed's states for a few seconds; the seed's operator would look
            again before giving up, and so does this.
            """
            deadline = time.monotonic() + UNDETERMINED_GRACE
            while True:
                facts = gather_diagnosis_facts(kube)
                found = diagnose(facts, self._now())
                if found.state != State.UNDETERMINED or time.monotonic() >= deadline:
                    return facts, found
                time.sleep(self._poll)

        def confirm(ctx: StepContext) -> dict[str, Any]:
            facts, found = settled_diagnosis()
            ips = {m.node: m.ip for m in gather_backup_facts(kube, ctx.cluster).masters}
            try:
                pod = healthy_pod(kube, avoid=found.member or "")
                members = members_of(kube, pod)
                reason = f"single-master-recovery-{self._now():%Y-%m-%dT%H%M%S.%fZ}"
                machines = {m.name: m.node for m in facts.machines}
                plan = plan_replacement(
                    wanted, found.state, found.member, members, ips, pod, reason, found.advice, machines
                )
            except Refused as exc:
                seen = f"\n{found.summary}" if found.state == State.UNDETERMINED else ""
                raise StepFailed(f"not replacing {wanted}: {exc}{seen}") from None
            log = "\n".join(plan.commands())
            return {**plan.__dict__, "log": f"Seed {plan.procedure} for {plan.node}:\n{log}"}

        def chosen(ctx: StepContext) -> dict[str, Any]:
            return ctx.results["confirm"]

        def stop_pod(ctx: StepContext) -> dict[str, Any]:
            ip = chosen(ctx)["ip"]
            hosts.run(ip, ["mkdir", "-p", MANIFEST_ASIDE], sudo=True)
            moved = hosts.run(ip, ["mv", MANIFEST, f"{MANIFEST_ASIDE}/"], sudo=True)
            if not moved.ok:
                raise StepFailed(f"{ip}: cannot move the etcd pod manifest: {moved.stderr.strip()}")
            return {}

        def stop_pod_probe(ctx: StepContext) -> ProbeResult:
            ip = chosen(ctx)["ip"]
            if path_exists(hosts, ip, f"{MANIFEST_ASIDE}/etcd-pod.yaml") and not path_exists(
                hosts, ip, MANIFEST
            ):
                return ProbeResult(Probe.DONE, "the manifest is already aside", {})
            if path_exists(hosts, ip, MANIFEST):
                return ProbeResult(Probe.REDO, "the manifest is still in place")
            return ProbeResult(Probe.ASK, f"{ip} has the etcd pod manifest in neither place")

        def move_data(ctx: StepContext) -> dict[str, Any]:
            ip = chosen(ctx)["ip"]
            moved = hosts.run(ip, ["mv", f"{DATA_DIR}/", "/tmp"], sudo=True)
            if not moved.ok:
                raise StepFailed(f"{ip}: cannot move {DATA_DIR} aside: {moved.stderr.strip()}")
            return {}

        def move_data_probe(ctx: StepContext) -> ProbeResult:
            ip = chosen(ctx)["ip"]
            if not path_exists(hosts, ip, DATA_DIR):
                return ProbeResult(Probe.DONE, f"{DATA_DIR} is already aside", {})
            return ProbeResult(Probe.REDO, f"{DATA_DIR} is still in place")

        def live_member(ctx: StepContext) -> tuple[str, Member | None]:
            """The member on the node as the cluster lists it now (what is approved and removed)."""
            node = chosen(ctx)["node"]
            pod = healthy_pod(kube, avoid=node)
            return pod, next((m for m in members_of(kube, pod) if m.name == node), None)

        def remove_member(ctx: StepContext) -> dict[str, Any]:
            pod, member = live_member(ctx)
            if member is None:
                return {"log": f"{chosen(ctx)['node']} is no longer a member"}
            removed = kube.exec(ETCD_NS, pod, ["etcdctl", "member", "remove", member.id], container="etcdctl")
            if not removed.ok:
                raise StepFailed(f"etcdctl member remove failed: {removed.stderr.strip()}", retryable=True)
            return {"log": removed.stdout.strip(), "removed": member.id}

        def remove_probe(ctx: StepContext) -> ProbeResult:
            _, member = live_member(ctx)
            if member is not None:
                return ProbeResult(Probe.REDO, f"member {member.id} is still in the list")
            return ProbeResult(Probe.DONE, f"{chosen(ctx)['node']} is already removed", {})

        def describe_removal(ctx: StepContext) -> dict[str, Any]:
            pod, member = live_member(ctx)
            if member is None:
                return {"member": f"{chosen(ctx)['node']} (no longer listed: nothing to remove)"}
            return {
                "commands": [f"oc rsh -n {ETCD_NS} {pod} etcdctl member remove {member.id}"],
                "member": f"{member.name} ({member.id})",
            }

        def secret_names(ctx: StepContext) -> list[str]:
            return [f"{kind}-{chosen(ctx)['node']}" for kind in SECRET_KINDS]

        def delete_secrets(ctx: StepContext) -> dict[str, Any]:
            deleted = [name for name in secret_names(ctx) if kube.delete("secrets", name, ETCD_NS)]
            return {"log": "\n".join(f'secret "{name}" deleted' for name in deleted)}

        def secrets_probe(ctx: StepContext) -> ProbeResult:
            present = {str(s["metadata"]["name"]) for s in kube.list("secrets", ETCD_NS)}
            left = [name for name in secret_names(ctx) if name in present]
            if left:
                return ProbeResult(Probe.REDO, f"still present: {', '.join(left)}")
            return ProbeResult(Probe.DONE, "the three secrets are already gone", {})

        def describe_secrets(ctx: StepContext) -> dict[str, Any]:
            return {"commands": [f"oc delete secret -n {ETCD_NS} {name}" for name in secret_names(ctx)]}

        def redeploy(ctx: StepContext) -> dict[str, Any]:
            reason = chosen(ctx)["reason"]
            kube.patch("etcd", "cluster", {"spec": {"forceRedeploymentReason": reason}})
            return {"log": f"forceRedeploymentReason: {reason}"}

        def redeploy_probe(ctx: StepContext) -> ProbeResult:
            current = (kube.get("etcd", "cluster").get("spec") or {}).get("forceRedeploymentReason")
            if current == chosen(ctx)["reason"]:
                return ProbeResult(Probe.DONE, "the redeployment was already forced", {})
            return ProbeResult(Probe.REDO, "the redeployment was not forced yet")

        def wait_healthy(ctx: StepContext) -> dict[str, Any]:
            deadline = time.monotonic() + HEALTHY_WAIT
            last = ""
            while time.monotonic() < deadline:
                try:
                    pod = healthy_pod(kube, avoid="")
                    health = kube.exec(
                        ETCD_NS,
                        pod,
                        ["etcdctl", "endpoint", "health", "--cluster", "--command-timeout=3s"],
                        container="etcdctl",
                    )
                    last = (health.stdout + health.stderr).strip()
                    members = members_of(kube, pod)
                except (ApiUnreachable, StepFailed) as exc:
                    # The redeployment restarts the etcd pods one by one: no pod may be ready this
                    # moment, or the one chosen is gone a moment later. Not yet healthy; ask again.
                    last = str(exc)
                else:
                    if health.ok and len(members) >= 3 and not any(m.learner for m in members):
                        return {"log": last}
                time.sleep(self._poll)
            raise StepFailed(f"not all members healthy after {HEALTHY_WAIT:.0f} s:\n{last}")

        def save_machine(ctx: StepContext) -> dict[str, Any]:
            plan = chosen(ctx)
            saved = clean_machine(kube.get("machines", plan["machine"], MACHINE_NS), plan["new_machine"])
            return {"machine": saved, "log": f"saved {plan['machine']} as {plan['new_machine']}"}

        def live_machine(name: str) -> dict[str, Any] | None:
            return next((m for m in kube.list("machines", MACHINE_NS) if m["metadata"]["name"] == name), None)

        def delete_machine(ctx: StepContext) -> dict[str, Any]:
            name = chosen(ctx)["machine"]
            gone = kube.delete("machines", name, MACHINE_NS)
            return {"log": f'machine "{name}" deleted' if gone else f"{name} was already gone"}

        def delete_machine_probe(ctx: StepContext) -> ProbeResult:
            name = chosen(ctx)["machine"]
            if live_machine(name) is None:
                return ProbeResult(Probe.DONE, f"{name} is already deleted", {})
            return ProbeResult(Probe.REDO, f"{name} still exists")

        def describe_machine_deletion(ctx: StepContext) -> dict[str, Any]:
            name = chosen(ctx)["machine"]
            machine = live_machine(name)
            if machine is None:
                return {"machine": f"{name} (already gone: nothing to delete)"}
            state = ((machine.get("status") or {}).get("providerStatus") or {}).get("instanceState", "?")
            return {
                "commands": [f"oc delete machine -n {MACHINE_NS} {name}"],
                "machine": f"{name} (uid {machine['metadata'].get('uid', '?')}, instanceState {state})",
            }

        def create_machine(ctx: StepContext) -> dict[str, Any]:
            body = ctx.results["save-machine"]["machine"]
            if live_machine(body["metadata"]["name"]) is None:
                kube.create("machines", body, MACHINE_NS)
            return {"log": f"machine.machine.openshift.io/{body['metadata']['name']} created"}

        def create_machine_probe(ctx: StepContext) -> ProbeResult:
            name = chosen(ctx)["new_machine"]
            if live_machine(name) is not None:
                return ProbeResult(Probe.DONE, f"{name} already exists", {})
            return ProbeResult(Probe.REDO, f"{name} does not exist yet")

        def wait_machine(ctx: StepContext) -> dict[str, Any]:
            name = chosen(ctx)["new_machine"]
            deadline = time.monotonic() + HEALTHY_WAIT
            while time.monotonic() < deadline:
                status = (live_machine(name) or {}).get("status") or {}
                node = (status.get("nodeRef") or {}).get("name")
                if status.get("phase") == "Running" and node:
                    return {"node": node, "log": f"{name} is Running as {node}"}
                time.sleep(self._poll)
            raise StepFailed(f"{name} did not reach Running in {HEALTHY_WAIT:.0f} s")

        def wait_etcd_pods(ctx: StepContext) -> dict[str, Any]:
            node = ctx.results["wait-machine"]["node"]
            forced = ""
            started = time.monotonic()
            while time.monotonic() - started < HEALTHY_WAIT:
                rows = [pod_row(p) for p in kube.list("pods", ETCD_NS)]
                running = {r.node for r in rows if r.name.startswith("etcd-") and r.status == "Running"}
                if node in running and len(running) >= 3:
                    return {"log": f"etcd pods run on {', '.join(sorted(running))}" + forced}
                if not forced and time.monotonic() - started > PODS_BEFORE_FORCING:
                    # The seed: if only two etcd pods appear, force a redeployment.
                    reason = chosen(ctx)["reason"]
                    kube.patch("etcd", "cluster", {"spec": {"forceRedeploymentReason": reason}})
                    forced = f"; only two etcd pods appeared, so forceRedeploymentReason {reason} was set"
                time.sleep(self._poll)
            raise StepFailed(f"no etcd pod on {node} after {HEALTHY_WAIT:.0f} s")

        confirm_step = StepSpec(
            "confirm", "Confirm the diagnosis and plan the replacement", confirm, attempts=2
        )
        planned = context.results.get("confirm")
        if planned is None or context.params.get("dry_run"):
            return [confirm_step]
        removal = [
            StepSpec(
                "remove-member",
                "Remove the member",
                remove_member,
                remove_probe,
                destructive=True,
                approval="member_removal",
                describe=describe_removal,
            ),
            StepSpec(
                "delete-secrets",
                "Delete its peer, serving and metrics secrets",
                delete_secrets,
                secrets_probe,
                destructive=True,
                approval="secret_deletion",
                describe=describe_secrets,
            ),
        ]
        healthy = StepSpec("wait-healthy", "Wait until every member is healthy", wait_healthy, attempts=1)
        if planned["procedure"] == "2.4.2":
            return [
                confirm_step,
                StepSpec(
                    "stop-pod", "Move the etcd pod manifest aside on the node", stop_pod, stop_pod_probe
                ),
                StepSpec("move-data", "Move the etcd data directory aside", move_data, move_data_probe),
                *removal,
                StepSpec("redeploy", "Force a redeployment of etcd", redeploy, redeploy_probe),
                healthy,
            ]
        return [
            confirm_step,
            *removal,
            StepSpec("save-machine", "Save the machine's definition for its successor", save_machine),
            StepSpec(
                "delete-machine",
                "Delete the machine",
                delete_machine,
                delete_machine_probe,
                destructive=True,
                approval="machine_deletion",
                describe=describe_machine_deletion,
            ),
            StepSpec("create-machine", "Create the new machine", create_machine, create_machine_probe),
            StepSpec("wait-machine", "Wait for the new machine to be Running", wait_machine, attempts=1),
            StepSpec("wait-etcd-pods", "Wait for its etcd pod", wait_etcd_pods, attempts=1),
            healthy,
        ]

    def summary(self, context: StepContext) -> str:
        plan = context.results.get("confirm", {})
        node, procedure = plan.get("node", "?"), plan.get("procedure", "?")
        if context.params.get("dry_run"):
            return f"dry run: seed {procedure} for {node} planned; nothing was done"
        return f"{node} replaced (seed {procedure}); all members healthy"
