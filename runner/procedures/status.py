"""``/etcd status``: the cluster's etcd health in one look, gathered read-only and rendered purely.

Gathering follows the seed's own checks (``EtcdMembersAvailable``, master nodes, etcd pods) and adds what
the on-call wants next to them: each member from etcdctl run inside a healthy etcd pod (as ``oc rsh``),
certificate expiry from the etcd secrets, and the age of the last good backup. A dead member must not
make the answer slow, and an unreachable API is said plainly instead of raising.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from sqlmodel import Session

from runner.ports import ApiUnreachable, Kube
from runner.steps import StepContext, StepSpec
from storage import backups

ETCD_NS = "openshift-etcd"
HEALTH_TIMEOUT = "3s"


@dataclass(frozen=True)
class MemberStatus:
    id: str
    name: str
    peer_url: str
    client_url: str
    healthy: bool
    leader: bool = False
    db_size: int | None = None
    revision: int | None = None
    error: str = ""


@dataclass(frozen=True)
class NodeStatus:
    name: str
    ready: bool
    reason: str = ""


@dataclass(frozen=True)
class PodStatus:
    name: str
    node: str
    ready: str
    status: str
    restarts: int


@dataclass(frozen=True)
class ClusterStatus:
    cluster: str
    checked_at: dt.datetime
    api_error: str = ""
    members_message: str = ""
    quorate: bool = False
    members: tuple[MemberStatus, ...] = ()
    nodes: tuple[NodeStatus, ...] = ()
    pods: tuple[PodStatus, ...] = ()
    cert_expiry: dict[str, dt.datetime] = field(default_factory=dict)
    last_backup_at: dt.datetime | None = None
    member_error: str = ""

    @property
    def healthy(self) -> bool:
        return (
            not self.api_error
            and self.quorate
            and bool(self.members)
            and all(m.healthy for m in self.members)
            and all(n.ready for n in self.nodes)
        )


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def pod_row(pod: dict[str, Any]) -> PodStatus:
    """READY, STATUS and RESTARTS as ``oc get pods`` computes them."""
    status = pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    shown = str(status.get("phase", "Unknown"))
    for c in containers:
        state = c.get("state") or {}
        reason = (state.get("waiting") or {}).get("reason") or (state.get("terminated") or {}).get("reason")
        if reason:
            shown = str(reason)
    return PodStatus(
        name=str(pod["metadata"]["name"]),
        node=str((pod.get("spec") or {}).get("nodeName", "")),
        ready=f"{sum(1 for c in containers if c.get('ready'))}/{len(containers)}",
        status=shown,
        restarts=sum(int(c.get("restartCount", 0)) for c in containers),
    )


def _members(kube: Kube, pod: str) -> tuple[MemberStatus, ...]:
    listed = kube.exec(ETCD_NS, pod, ["etcdctl", "member", "list", "-w", "json"], container="etcdctl")
    if not listed.ok:
        raise RuntimeError(listed.stderr.strip() or "etcdctl member list failed")
    members = json.loads(listed.stdout).get("members") or []
    timeout = f"--command-timeout={HEALTH_TIMEOUT}"
    health = kube.exec(
        ETCD_NS,
        pod,
        ["etcdctl", "endpoint", "health", "--cluster", "-w", "json", timeout],
        container="etcdctl",
    )
    statuses = kube.exec(
        ETCD_NS,
        pod,
        ["etcdctl", "endpoint", "status", "--cluster", "-w", "json", timeout],
        container="etcdctl",
    )
    healthy = {h["endpoint"]: (bool(h.get("health")), h.get("error", "")) for h in _json_list(health.stdout)}
    details = {s["Endpoint"]: s.get("Status") or {} for s in _json_list(statuses.stdout)}
    result = []
    for member in members:
        client_url = (member.get("clientURLs") or [""])[0]
        info = details.get(client_url, {})
        ok, error = healthy.get(client_url, (False, "no answer"))
        header = info.get("header") or {}
        result.append(
            MemberStatus(
                id=f"{int(member['ID']):x}",
                name=str(member.get("name") or "(not started)"),
                peer_url=(member.get("peerURLs") or [""])[0],
                client_url=client_url,
                healthy=ok,
                leader=bool(info) and info.get("leader") == header.get("member_id"),
                db_size=info.get("dbSize"),
                revision=header.get("revision"),
                error=str(error or ""),
            )
        )
    return tuple(result)


def _json_list(text: str) -> list[dict[str, Any]]:
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def peer_cert_expiry(secrets: list[dict[str, Any]]) -> dict[str, dt.datetime]:
    """Node name → when its etcd peer certificate (secret ``etcd-peer-<node>``) expires."""
    expiry = {}
    for secret in secrets:
        name = str(secret["metadata"]["name"])
        if name.startswith("etcd-peer-") and (when := _expiry(secret)) is not None:
            expiry[name.removeprefix("etcd-peer-")] = when
    return expiry


def _expiry(secret: dict[str, Any]) -> dt.datetime | None:
    data = (secret.get("data") or {}).get("tls.crt")
    if not data:
        return None
    return x509.load_pem_x509_certificate(base64.b64decode(data)).not_valid_after_utc


def gather_status(
    kube: Kube, cluster: str, now: dt.datetime, last_backup_at: dt.datetime | None = None
) -> ClusterStatus:
    try:
        etcd = kube.get("etcd", "cluster")
        nodes = kube.list("nodes", label_selector="node-role.kubernetes.io/master")
        pods = [p for p in kube.list("pods", ETCD_NS) if str(p["metadata"]["name"]).startswith("etcd-")]
        secrets = kube.list("secrets", ETCD_NS)
    except ApiUnreachable as exc:
        return ClusterStatus(
            cluster=cluster, checked_at=now, api_error=str(exc), last_backup_at=last_backup_at
        )
    available = condition(etcd, "EtcdMembersAvailable")
    node_rows = []
    for node in nodes:
        ready = condition(node, "Ready")
        node_rows.append(
            NodeStatus(
                str(node["metadata"]["name"]), ready.get("status") == "True", str(ready.get("reason", ""))
            )
        )
    pod_rows = tuple(pod_row(p) for p in pods)
    ready_nodes = {n.name for n in node_rows if n.ready}
    candidates = [
        p
        for p in pod_rows
        if p.status == "Running" and p.node in ready_nodes and p.ready.split("/")[0] == p.ready.split("/")[1]
    ]
    members: tuple[MemberStatus, ...] = ()
    member_error = ""
    for pod in candidates:
        try:
            members = _members(kube, pod.name)
            break
        except (ApiUnreachable, RuntimeError, ValueError) as exc:
            member_error = f"{pod.name}: {exc}"
    if not candidates:
        member_error = "no running etcd pod on a Ready node to ask"
    expiry = peer_cert_expiry(secrets)
    return ClusterStatus(
        cluster=cluster,
        checked_at=now,
        members_message=str(available.get("message", "")),
        quorate=available.get("status") == "True",
        members=members,
        nodes=tuple(node_rows),
        pods=pod_rows,
        cert_expiry=expiry,
        last_backup_at=last_backup_at,
        member_error="" if members else member_error,
    )


def _age(then: dt.datetime, now: dt.datetime) -> str:
    seconds = int((now - then).total_seconds())
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def _mib(size: int | None) -> str:
    return "?" if size is None else f"{size / 1024 / 1024:.1f} MiB"


def render_status(status: ClusterStatus) -> tuple[str, list[dict[str, Any]]]:
    """The Slack message: a text fallback and Block Kit blocks (pure, so it is tested without Slack)."""
    now = status.checked_at
    if status.api_error:
        text = (
            f":red_circle: *{status.cluster}*: the Kubernetes API is unreachable — {status.api_error}. "
            "If etcd lost quorum, see `/etcd diagnose` and the restore procedure (`/etcd restore`)."
        )
        return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    icon = (
        ":large_green_circle:" if status.healthy else (":red_circle:" if not status.quorate else ":warning:")
    )
    headline = f"{icon} *{status.cluster}*: {status.members_message or 'EtcdMembersAvailable not reported'}"
    member_lines = [
        f"{'✅' if m.healthy else '❌'} `{m.id}` {m.name}{' (leader)' if m.leader else ''} — {m.client_url}, "
        f"db {_mib(m.db_size)}, rev {m.revision if m.revision is not None else '?'}"
        + (f" — {m.error}" if m.error and not m.healthy else "")
        for m in status.members
    ] or [f"members unknown: {status.member_error}"]
    node_lines = [
        f"{'✅' if n.ready else '❌'} {n.name} {'Ready' if n.ready else 'NotReady'}" for n in status.nodes
    ]
    pod_lines = [f"{p.name} {p.ready} {p.status} restarts={p.restarts}" for p in status.pods]
    soonest = min(status.cert_expiry.values(), default=None)
    certs = (
        f"etcd certificates expire in {_age(now, soonest)}" if soonest else "etcd certificate expiry unknown"
    )
    if soonest and soonest <= now:
        certs = f"etcd certificates EXPIRED {_age(soonest, now)} ago"
    backup = (
        f"last good backup {_age(status.last_backup_at, now)} ago"
        if status.last_backup_at
        else "no backup recorded yet — take one with `/etcd backup`"
    )
    text = "\n".join(
        [
            headline,
            "*Members*",
            *member_lines,
            "*Masters*",
            *node_lines,
            "*etcd pods*",
            *pod_lines,
            f"{certs}; {backup}",
        ]
    )
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Members*\n" + "\n".join(member_lines)}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": "*Masters*\n" + ("\n".join(node_lines) or "none")},
                {"type": "mrkdwn", "text": "*etcd pods*\n" + ("\n".join(pod_lines) or "none")},
            ],
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{certs} · {backup}"}]},
    ]
    return text, blocks


class StatusProcedure:
    """``/etcd status`` as a read-only run of one step: gather, then render the report the relay posts.

    Running it through the runner (not in the Slack listener) keeps the listener's ack instant whatever
    the cluster does, and puts every status check on the timeline like any other run.
    """

    name = "status"
    destructive = False
    adaptive = False

    def __init__(
        self,
        kube: Callable[[str], Kube],
        sessions: Callable[[], Session],
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._kube = kube
        self._sessions = sessions
        self._now = now

    def steps(self, context: StepContext) -> list[StepSpec]:
        def gather(ctx: StepContext) -> dict[str, Any]:
            with self._sessions() as session:
                last = backups.latest_verified_backup(ctx.cluster, session=session)
            status = gather_status(
                self._kube(ctx.cluster), ctx.cluster, self._now(), last.taken_at if last else None
            )
            text, blocks = render_status(status)
            return {"healthy": status.healthy, "api_error": status.api_error, "text": text, "blocks": blocks}

        # One attempt: a status that retries for a minute is not an answer in seconds.
        return [StepSpec("gather", "Read etcd, nodes, pods and certificates", gather, attempts=1)]

    def summary(self, context: StepContext) -> str:
        report = context.results.get("gather", {})
        return str(report.get("text", "")).split("\n", 1)[0]
