"""Scheduled health reports: green, amber or red for one cluster, with every reason in an SRE's words.

Classification is a pure function of gathered facts (``runner.procedures.health_facts`` gathers them),
so each rule is tested on a table of facts without a cluster. The rules, worst first:

RED — act now:
  - the Kubernetes API does not answer (or the facts could not be gathered at all);
  - the etcd operator reports ``EtcdMembersAvailable`` not True (no quorum);
  - fewer than a majority of the members listed by etcdctl are healthy (quorum lost);
  - any member is unhealthy, per ``etcdctl endpoint health`` or per the operator's condition message,
    or was added but has not started (it counts toward quorum without voting);
  - a member's database is at or above ``db_red_ratio`` (95 %) of the backend quota: at the quota etcd
    raises NOSPACE and refuses every write;
  - an etcd peer certificate has expired or expires within ``cert_red`` (7 days).

AMBER — look today:
  - the members could not be read (no etcd pod to ask, etcdctl failed), or the operator does not report
    ``EtcdMembersAvailable`` at all;
  - no member, or more than one, says it is the leader; or no member answered ``endpoint status``;
  - a member's database is at or above ``db_amber_ratio`` (80 %) of the quota;
  - no verified backup, or the last one is older than the cluster's ``backup_max_age``;
  - CSRs pending for longer than ``csr_grace`` (the machine approver handles fresh ones in seconds), or
    the CSRs could not be listed;
  - an etcd peer certificate expires within ``cert_amber`` (30 days), or no expiry could be read;
  - a master is NotReady, a master has no etcd pod, or an etcd pod is not Running with every container
    ready.

GREEN — none of the above.

Posting on change needs a key that moves with what matters and stays put through noise: the
:func:`health_signature` is the level, whether the cluster could be seen, and which members are
unhealthy — never sizes, ages or counts, which creep every hour without changing what anyone should do.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

from runner.procedures.status import ClusterStatus, MemberStatus
from storage.redact import redact

GIB = 1024**3
DEFAULT_QUOTA_BYTES = 8 * GIB  # OpenShift's quota-backend-bytes (etcd's own default is 2 GiB)
NOT_STARTED = "(not started)"  # the name status.py gives a member that was added but never started


class Level(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Level.GREEN: 0, Level.AMBER: 1, Level.RED: 2}


@dataclass(frozen=True)
class Thresholds:
    """Where amber and red begin. ``backup_max_age`` is per cluster (its ``backup_max_age`` setting)."""

    backup_max_age: dt.timedelta = dt.timedelta(hours=24)
    db_amber_ratio: float = 0.80
    db_red_ratio: float = 0.95
    cert_amber: dt.timedelta = dt.timedelta(days=30)
    cert_red: dt.timedelta = dt.timedelta(days=7)
    csr_grace: dt.timedelta = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class PendingCsr:
    """A CSR with neither an Approved, a Denied nor a Failed condition."""

    name: str
    requested_at: dt.datetime | None = None


@dataclass(frozen=True)
class HealthFacts:
    """What a report is made from: ``/etcd status``'s facts plus the CSRs and the backend quota."""

    status: ClusterStatus
    quota_bytes: int = DEFAULT_QUOTA_BYTES
    pending_csrs: tuple[PendingCsr, ...] = ()
    csr_error: str = ""  # the CSRs could not be listed (then ``pending_csrs`` is empty, not "none")

    @property
    def cluster(self) -> str:
        return self.status.cluster

    @property
    def api_reachable(self) -> bool:
        return not self.status.api_error


@dataclass(frozen=True)
class Finding:
    level: Level
    text: str


@dataclass(frozen=True)
class HealthReport:
    """One cluster's verdict. ``facts`` is None when they could not be gathered at all."""

    cluster: str
    checked_at: dt.datetime
    level: Level
    findings: tuple[Finding, ...] = ()  # worst first
    unhealthy_members: tuple[str, ...] = ()  # sorted member names (NAME-PENDING-<ip> if not started)
    reachable: bool = True  # False: the API did not answer, or gathering failed
    facts: HealthFacts | None = None

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(f.text for f in self.findings)


# --- classification -----------------------------------------------------------------------------


def classify(facts: HealthFacts, now: dt.datetime, thresholds: Thresholds | None = None) -> HealthReport:
    """The cluster's level and every reason for it (pure; the rules are in the module docstring)."""
    limits = thresholds or Thresholds()
    status = facts.status
    if status.api_error:
        findings = [
            Finding(
                Level.RED,
                f"the Kubernetes API does not answer: {plain(status.api_error)}. If etcd lost quorum, "
                "see `/etcd diagnose`; a restore (`/etcd restore`) may be needed",
            ),
            *_backup(facts, now, limits),
        ]
        return _report(facts, now, findings, (), reachable=False)
    unhealthy = _unhealthy_members(status)
    findings = [
        *_quorum(status),
        *_members(status),
        *_leader(status),
        *_database(facts, limits),
        *_certificates(status, now, limits),
        *_backup(facts, now, limits),
        *_csrs(facts, now, limits),
        *_masters(status),
        *_pods(status),
    ]
    return _report(facts, now, findings, unhealthy, reachable=True)


def failed_report(cluster: str, now: dt.datetime, reason: str) -> HealthReport:
    """RED for a cluster whose facts could not be gathered (an exception, no answer in time)."""
    return HealthReport(cluster, now, Level.RED, (Finding(Level.RED, plain(reason)),), reachable=False)


def _report(
    facts: HealthFacts,
    now: dt.datetime,
    findings: Iterable[Finding],
    unhealthy: Iterable[str],
    *,
    reachable: bool,
) -> HealthReport:
    ordered = tuple(sorted(findings, key=lambda f: -f.level.rank))  # stable: rule order within a level
    level = ordered[0].level if ordered else Level.GREEN
    return HealthReport(
        facts.cluster, now, level, ordered, tuple(sorted(set(unhealthy))), reachable=reachable, facts=facts
    )


def member_label(member: MemberStatus) -> str:
    """The member's name, or ``NAME-PENDING-<ip>`` (the operator's name for it) if it never started."""
    if member.name and member.name != NOT_STARTED:
        return member.name
    return f"NAME-PENDING-{urlsplit(member.peer_url).hostname or member.id}"


_OPERATOR_UNHEALTHY = re.compile(r"([^\s,]+) is unhealthy")
_OPERATOR_NOT_STARTED = re.compile(r"([^\s,]+) has not started")


def operator_unhealthy(message: str) -> tuple[str, ...]:
    """Members ``EtcdMembersAvailable`` names: ``2 of 3 members are available, A is unhealthy, B ...``."""
    return tuple(_OPERATOR_UNHEALTHY.findall(message) + _OPERATOR_NOT_STARTED.findall(message))


def _unhealthy_members(status: ClusterStatus) -> set[str]:
    from_etcdctl = {member_label(m) for m in status.members if not m.healthy}
    return from_etcdctl | set(operator_unhealthy(status.members_message))


def _quorum(status: ClusterStatus) -> list[Finding]:
    found = []
    if not status.quorate and status.members_message:
        found.append(
            Finding(
                Level.RED,
                f"the etcd operator reports no quorum (EtcdMembersAvailable is not True: "
                f"{plain(status.members_message)})",
            )
        )
    elif not status.quorate:
        found.append(Finding(Level.AMBER, "the etcd operator does not report EtcdMembersAvailable"))
    healthy = sum(1 for m in status.members if m.healthy)
    if status.members and healthy * 2 <= len(status.members):
        found.append(
            Finding(
                Level.RED,
                f"etcd has lost quorum: only {healthy} of {len(status.members)} members are healthy. "
                "Replacing a member needs quorum: see `/etcd diagnose` and `/etcd restore`",
            )
        )
    return found


def _members(status: ClusterStatus) -> list[Finding]:
    if not status.members:
        why = plain(status.member_error) or "etcdctl listed no member"
        found = [Finding(Level.AMBER, f"the etcd members could not be read: {why}")]
        # Without etcdctl, the operator's condition is what names the unhealthy members.
        found += [
            Finding(Level.RED, f"member {name} is unhealthy, says the etcd operator")
            for name in operator_unhealthy(status.members_message)
        ]
        return found
    found = []
    for member in status.members:
        if member.healthy:
            continue
        label = member_label(member)
        if member.name == NOT_STARTED or not member.name:
            text = f"member {label} ({member.id}) was added but has not started: it counts toward quorum"
        else:
            text = f"member {label} ({member.id}) is unhealthy: {plain(member.error) or 'no answer'}"
        found.append(Finding(Level.RED, text))
    seen = {member_label(m) for m in status.members if not m.healthy}
    for name in operator_unhealthy(status.members_message):
        if name not in seen:
            found.append(
                Finding(
                    Level.RED,
                    f"member {name} is unhealthy, says the etcd operator, though etcdctl "
                    "did not find it unhealthy (the operator's condition may lag a minute)",
                )
            )
    return found


def _answered(member: MemberStatus) -> bool:
    """Whether ``endpoint status`` answered for the member (only then are leader and size known)."""
    return member.revision is not None or member.db_size is not None


def _leader(status: ClusterStatus) -> list[Finding]:
    if not status.members:
        return []
    if not any(_answered(m) for m in status.members):
        return [
            Finding(
                Level.AMBER,
                "no member answered `etcdctl endpoint status`: the leader and the database sizes are unknown",
            )
        ]
    leaders = [member_label(m) for m in status.members if m.leader]
    if not leaders:
        return [Finding(Level.AMBER, "no member says it is the leader: an election may be under way")]
    if len(leaders) > 1:
        return [
            Finding(
                Level.AMBER,
                f"{len(leaders)} members say they are the leader ({', '.join(leaders)}): an election may be "
                "under way, or a member is cut off from the others",
            )
        ]
    return []


def _database(facts: HealthFacts, limits: Thresholds) -> list[Finding]:
    sized = [m for m in facts.status.members if m.db_size is not None]
    if not sized or facts.quota_bytes <= 0:
        return []
    biggest = max(sized, key=lambda m: m.db_size or 0)
    size = biggest.db_size or 0
    ratio = size / facts.quota_bytes
    where = (
        f"the database of member {member_label(biggest)} is {size_text(size)}, "
        f"{size * 100 // facts.quota_bytes}% of the {size_text(facts.quota_bytes)} quota"
    )
    if ratio >= limits.db_red_ratio:
        return [
            Finding(
                Level.RED,
                f"{where}: at the quota etcd raises a NOSPACE alarm and refuses every write; compact and "
                "defragment now",
            )
        ]
    if ratio >= limits.db_amber_ratio:
        return [Finding(Level.AMBER, f"{where}: plan a defragmentation before it reaches the quota")]
    return []


def _certificates(status: ClusterStatus, now: dt.datetime, limits: Thresholds) -> list[Finding]:
    if not status.cert_expiry:
        return [
            Finding(Level.AMBER, "etcd certificate expiry unknown: no etcd-peer-<node> secret could be read")
        ]
    node, soonest = min(status.cert_expiry.items(), key=lambda item: item[1])
    left = soonest - now
    also = sum(1 for when in status.cert_expiry.values() if when - now < limits.cert_amber) - 1
    more = f" ({also} more expire within {human_duration(limits.cert_amber)})" if also > 0 else ""
    when = f"{soonest:%Y-%m-%d %H:%M} UTC"
    if left <= dt.timedelta(0):
        return [
            Finding(
                Level.RED,
                f"the etcd peer certificate of {node} EXPIRED {human_duration(-left)} ago ({when}){more}: "
                "follow the certificate recovery procedure",
            )
        ]
    text = f"the etcd peer certificate of {node} expires in {human_duration(left)} ({when}){more}"
    if left < limits.cert_red:
        return [Finding(Level.RED, text)]
    if left < limits.cert_amber:
        return [Finding(Level.AMBER, text)]
    return []


def _backup(facts: HealthFacts, now: dt.datetime, limits: Thresholds) -> list[Finding]:
    taken = facts.status.last_backup_at
    take_one = f"take one with `/etcd backup {facts.cluster}`"
    if taken is None:
        return [Finding(Level.AMBER, f"no verified backup of {facts.cluster} is recorded: {take_one}")]
    age = now - taken
    if age > limits.backup_max_age:
        return [
            Finding(
                Level.AMBER,
                f"the last good backup is {human_duration(age)} old, more than the "
                f"{human_duration(limits.backup_max_age)} allowed: {take_one}",
            )
        ]
    return []


def _csrs(facts: HealthFacts, now: dt.datetime, limits: Thresholds) -> list[Finding]:
    if facts.csr_error:
        return [Finding(Level.AMBER, f"the pending CSRs could not be listed: {plain(facts.csr_error)}")]
    stale = sorted(
        c.name
        for c in facts.pending_csrs
        if c.requested_at is None or now - c.requested_at > limits.csr_grace
    )
    if not stale:
        return []
    shown = ", ".join(stale[:5]) + (f" and {len(stale) - 5} more" if len(stale) > 5 else "")
    count = f"{len(stale)} CSR{'s' if len(stale) > 1 else ''}"
    return [
        Finding(
            Level.AMBER,
            f"{count} pending for more than {human_duration(limits.csr_grace)} ({shown}): check them and "
            "approve the valid ones with `/etcd csr`",
        )
    ]


def _masters(status: ClusterStatus) -> list[Finding]:
    found = [
        Finding(Level.AMBER, f"master {n.name} is NotReady ({plain(n.reason) or 'no reason given'})")
        for n in status.nodes
        if not n.ready
    ]
    with_pod = {p.node for p in status.pods}
    found += [
        Finding(Level.AMBER, f"master {n.name} has no etcd pod")
        for n in status.nodes
        if n.name not in with_pod
    ]
    return found


def _pods(status: ClusterStatus) -> list[Finding]:
    found = []
    for pod in status.pods:
        ready, total = pod.ready.split("/")
        where = f"etcd pod {pod.name} on {pod.node or 'no node'}"
        if pod.status != "Running":
            found.append(
                Finding(
                    Level.AMBER,
                    f"{where} is {pod.status} ({pod.ready} containers ready, {pod.restarts} restarts)",
                )
            )
        elif ready != total:
            found.append(Finding(Level.AMBER, f"{where} is Running with only {pod.ready} containers ready"))
    return found


# --- change detection ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthState:
    """What the on-change path compares: the level, whether the cluster was seen, the unhealthy members."""

    level: Level
    reachable: bool = True
    unhealthy_members: tuple[str, ...] = field(default=())

    @property
    def signature(self) -> str:
        parts = [self.level.value]
        if not self.reachable:
            parts.append("unreachable")
        if self.unhealthy_members:
            parts.append("unhealthy=" + ",".join(sorted(self.unhealthy_members)))
        return ";".join(parts)


def state_of(report: HealthReport) -> HealthState:
    return HealthState(report.level, report.reachable, tuple(sorted(report.unhealthy_members)))


def health_signature(report: HealthReport) -> str:
    """A short stable string, e.g. ``red;unhealthy=master-0``, ``red;unreachable`` or ``green``."""
    return state_of(report).signature


def parse_signature(signature: str) -> HealthState:
    """The state a signature was made from; ValueError if it is not one."""
    level, *parts = signature.split(";")
    reachable = True
    unhealthy: tuple[str, ...] = ()
    for part in parts:
        if part == "unreachable":
            reachable = False
        elif part.startswith("unhealthy="):
            unhealthy = tuple(name for name in part.removeprefix("unhealthy=").split(",") if name)
        else:
            raise ValueError(f"{signature!r} is not a health signature")
    return HealthState(Level(level), reachable, unhealthy)


def should_post_now(previous_signature: str | None, report: HealthReport) -> bool:
    """The on-change path: post when the signature differs from the last one posted. With nothing
    posted yet, post only a problem (a first GREEN is not news; the scheduled report says it)."""
    if previous_signature is None:
        return report.level is not Level.GREEN
    return health_signature(report) != previous_signature


# --- many clusters at once ----------------------------------------------------------------------


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def gather_reports(
    names: Sequence[str],
    gather_one: Callable[[str], HealthReport],
    *,
    max_workers: int,
    timeout: float | None = None,
    now: Callable[[], dt.datetime] = _utcnow,
) -> list[HealthReport]:
    """One report per name, in the order given, gathered concurrently (``gather_one`` must be safe to
    call from several threads). A cluster that raises, or does not answer within ``timeout`` seconds of
    the start, gets a RED report saying so; the others are unaffected. A thread stuck past the timeout
    is left to finish on its own: the report does not wait for it."""
    if max_workers < 1:
        raise ValueError("max_workers must be at least 1")
    if not names:
        return []
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=min(max_workers, len(names)), thread_name_prefix="health"
    )
    try:
        futures = [pool.submit(gather_one, name) for name in names]
        concurrent.futures.wait(futures, timeout=timeout)
        reports = []
        for name, future in zip(names, futures, strict=True):
            if not future.done():
                reports.append(
                    failed_report(name, now(), f"could not gather: no answer within {timeout:g} s")
                )
            elif (error := future.exception()) is not None:
                reports.append(
                    failed_report(name, now(), f"could not gather: {error or type(error).__name__}")
                )
            else:
                reports.append(future.result())
        return reports
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


# --- wording ------------------------------------------------------------------------------------

MAX_DETAIL = 300


def plain(text: str) -> str:
    """An error as one short line without secrets (:func:`storage.redact.redact`): reasons reach Slack
    and the timeline, where secrets never go."""
    text = " ".join(redact(text).split())
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


def human_duration(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 3600:
        return f"{max(seconds, 0) // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def size_text(size: int) -> str:
    if size >= GIB:
        return f"{size / GIB:.1f} GiB"
    return f"{size / 1024**2:.1f} MiB"
