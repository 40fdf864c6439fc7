"""Health reports: the scheduled report (a read-only run, like ``/etcd status``) and the watch that tells
a channel at once when a cluster's state changes.

Both gather every cluster they cover concurrently (:func:`runner.health.gather_reports`): a report on
fifty clusters takes about as long as the slowest one, and one cluster that does not answer is red in
the report instead of holding up the others.

The watch runs on the scheduler's lease holder only. A change is recorded in ``health_state`` with the
cluster's signature (level, reachability, unhealthy members) before it is announced, so two processes
never both announce it and a state that holds is announced once. Rendering is injected: the runner
does not know Slack's Block Kit; the bot hands in its renderers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any

from runner.health import (
    HealthReport,
    Thresholds,
    classify,
    gather_reports,
    health_signature,
    member_label,
)
from runner.ports import Kube
from runner.procedures.health_facts import gather_health_facts
from runner.steps import StepContext, StepSpec
from storage import metrics, schedules
from storage.db import SessionFactory
from storage.models import ScheduleKind
from storage.timeline import append_event

log = logging.getLogger(__name__)

ALL_CLUSTERS = "all"
MAX_WORKERS = 16
GATHER_TIMEOUT = 60.0
Rendered = tuple[str, list[dict[str, Any]]]


class HealthGatherer:
    """One cluster's report, from its Kube client and the catalog (safe to call from many threads)."""

    def __init__(
        self,
        kube: Callable[[str], Kube],
        last_backup_at: Callable[[str], dt.datetime | None],
        thresholds: Callable[[str], Thresholds],
        now: Callable[[], dt.datetime],
    ) -> None:
        self._kube = kube
        self._last_backup_at = last_backup_at
        self._thresholds = thresholds
        self._now = now

    def __call__(self, cluster: str) -> HealthReport:
        now = self._now()
        facts = gather_health_facts(self._kube(cluster), cluster, now, last_backup_at=self._last_backup_at)
        return classify(facts, now, self._thresholds(cluster))

    def many(self, names: Sequence[str]) -> list[HealthReport]:
        reports = gather_reports(
            names,
            self,
            max_workers=min(MAX_WORKERS, max(1, len(names))),
            timeout=GATHER_TIMEOUT,
            now=self._now,
        )
        for report in reports:
            metrics.member_health(report.cluster, report.reachable, member_health(report))
        return reports


def member_health(report: HealthReport) -> dict[str, bool] | None:
    """Each member's health as the report saw it (etcdctl's answer, and the operator's list of unhealthy
    members); None when the members could not be read at all."""
    if report.facts is None:
        return None
    status = report.facts.status
    if not status.members and not report.unhealthy_members:
        return None
    found = {member_label(m): m.healthy for m in status.members}
    for name in report.unhealthy_members:
        found[name] = False
    return found


class HealthProcedure:
    """A scheduled (or typed) health report: one step gathers and renders; the relay posts it."""

    name = "health"
    destructive = False
    adaptive = False

    def __init__(
        self,
        gatherer: HealthGatherer,
        cluster_names: Callable[[], list[str]],
        render_one: Callable[[HealthReport], Rendered],
        render_many: Callable[[list[HealthReport]], Rendered],
    ) -> None:
        self._gatherer = gatherer
        self._cluster_names = cluster_names
        self._render_one = render_one
        self._render_many = render_many

    @property
    def gatherer(self) -> HealthGatherer:
        return self._gatherer

    def steps(self, context: StepContext) -> list[StepSpec]:
        def report(ctx: StepContext) -> dict[str, Any]:
            covered = str(ctx.params.get("clusters") or ctx.cluster)
            names = self._cluster_names() if covered == ALL_CLUSTERS else [covered]
            reports = self._gatherer.many(names)
            if covered == ALL_CLUSTERS:
                text, blocks = self._render_many(reports)
            else:
                text, blocks = self._render_one(reports[0])
            return {
                "levels": {r.cluster: r.level.value for r in reports},
                "text": text,
                "blocks": blocks,
            }

        return [StepSpec("report", "Gather and judge each cluster's health", report, attempts=1)]

    def summary(self, context: StepContext) -> str:
        return str(context.results.get("report", {}).get("text", "")).split("\n", 1)[0]


class HealthWatch:
    """Checks the watched clusters and appends a ``health.changed`` event (with the message to post and
    the channels to post it in) when a cluster's signature changes; nothing while it holds."""

    def __init__(
        self,
        gatherer: HealthGatherer,
        sessions: SessionFactory,
        cluster_names: Callable[[], list[str]],
        default_channel: Callable[[str], str | None],
        render_change: Callable[[HealthReport, str | None], Rendered],
    ) -> None:
        self._gatherer = gatherer
        self._sessions = sessions
        self._cluster_names = cluster_names
        self._default_channel = default_channel
        self._render_change = render_change

    def watched(self) -> dict[str, list[str]]:
        """Cluster → the channels its health reports go to: those of health schedules covering it."""
        with self._sessions() as session:
            rows = [s for s in schedules.list_schedules(session=session) if s.kind == ScheduleKind.HEALTH]
        channels: dict[str, list[str]] = {}
        everyone = self._cluster_names()
        for row in rows:
            for cluster in everyone if row.cluster == ALL_CLUSTERS else [row.cluster]:
                if cluster not in everyone:
                    continue
                channel = row.channel or self._default_channel(cluster)
                if channel and channel not in channels.setdefault(cluster, []):
                    channels[cluster].append(channel)
        return channels

    def __call__(self, now: dt.datetime) -> int:
        """One check of every watched cluster; returns how many changes were announced."""
        channels = self.watched()
        if not channels:
            return 0
        announced = 0
        for report in self._gatherer.many(sorted(channels)):
            stamped = dataclasses.replace(report, checked_at=now)
            with self._sessions() as session:
                change = schedules.record_health(
                    stamped.cluster,
                    session=session,
                    signature=health_signature(stamped),
                    level=stamped.level.value,
                    now=now,
                )
            if not change.changed:
                continue
            text, blocks = self._render_change(stamped, change.previous)
            with self._sessions() as session:
                append_event(
                    session=session,
                    kind="health.changed",
                    summary=text.split("\n", 1)[0],
                    cluster=stamped.cluster,
                    details={
                        "level": stamped.level.value,
                        "reasons": list(stamped.reasons),
                        "channels": channels[stamped.cluster],
                        "text": text,
                        "blocks": blocks,
                    },
                )
            announced += 1
        return announced
