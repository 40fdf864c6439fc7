"""What ``/metrics`` reports, defined in one place every layer can reach.

The engine counts runs and times steps, the approval service times the wait for a decision, the health
gathering sets member health, the Slack client counts API errors and retries. They all record here, in
the process-wide Prometheus registry (the one prometheus-client's own process and Python collectors use),
and the ops server exposes it. It lives in storage, like :mod:`storage.redact`, because storage is the
layer everybody may import and it needs nothing but prometheus-client.

The backup gauges are not recorded by anyone: :class:`BackupCatalogCollector` reads the catalog when
Prometheus scrapes, so every replica reports the same truth and a restarted process knows it at once.

Counters and histograms count what *this* process did: with several replicas, sum them across replicas.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily

from storage import backups
from storage.db import SessionFactory
from storage.models import utcnow

log = logging.getLogger(__name__)

NAMESPACE = "etcdops"
# No ``*_created`` series next to every counter and histogram: they double the series for nothing.
disable_created_metrics()  # type: ignore[no-untyped-call]

RUNS = Counter(
    "runs",
    "Runs this process's runner finished, by procedure and outcome (succeeded, failed, cancelled)",
    ["procedure", "outcome"],
    namespace=NAMESPACE,
)
STEP_DURATION = Histogram(
    "step_duration_seconds",
    "How long a step's work took, retries included, by procedure and step id",
    ["procedure", "step"],
    namespace=NAMESPACE,
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
APPROVAL_WAIT = Histogram(
    "approval_wait_seconds",
    "From an approval request to its end, by action and outcome (approved, rejected, expired, voided)",
    ["action", "outcome"],
    namespace=NAMESPACE,
    buckets=(10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400),
)
MEMBER_HEALTHY = Gauge(
    "etcd_member_healthy",
    "1 if the etcd member answered healthy at this process's last health check of its cluster, else 0",
    ["cluster", "member"],
    namespace=NAMESPACE,
)
CLUSTER_REACHABLE = Gauge(
    "cluster_reachable",
    "1 if the cluster's API answered at this process's last health check, else 0 (members then unknown)",
    ["cluster"],
    namespace=NAMESPACE,
)
SLACK_API_ERRORS = Counter(
    "slack_api_errors",
    "Slack Web API calls that failed, by method and error (Slack's error code, or the exception type)",
    ["method", "error"],
    namespace=NAMESPACE,
)
SLACK_API_RETRIES = Counter(
    "slack_api_retries",
    "Slack Web API calls retried (rate limited, connection lost), by method",
    ["method"],
    namespace=NAMESPACE,
)

_members_lock = threading.Lock()


def run_finished(procedure: str, outcome: str) -> None:
    RUNS.labels(procedure, outcome).inc()


def step_took(procedure: str, step: str, seconds: float) -> None:
    STEP_DURATION.labels(procedure, step).observe(max(0.0, seconds))


def approval_ended(action: str, outcome: str, requested_at: dt.datetime, ended_at: dt.datetime) -> None:
    APPROVAL_WAIT.labels(action, outcome).observe(max(0.0, (ended_at - requested_at).total_seconds()))


def member_health(cluster: str, reachable: bool, members: Mapping[str, bool] | None) -> None:
    """The cluster's members as last checked; ``None`` when they could not be read (API down, etcdctl
    failed): its member series are then dropped rather than left saying what was true before."""
    with _members_lock:
        CLUSTER_REACHABLE.labels(cluster).set(1 if reachable else 0)
        MEMBER_HEALTHY.remove_by_labels({"cluster": cluster})  # a replaced member leaves no stale series
        for member, healthy in (members or {}).items():
            MEMBER_HEALTHY.labels(cluster, member).set(1 if healthy else 0)


class BackupCatalogCollector:
    """Age and size of each cluster's newest good (verified, not pruned) backup, read at scrape time.

    A cluster with no good backup reports an age of +Inf (so an "older than a day" alert fires) and no
    size. A catalog that cannot be read reports nothing and logs why: the scrape itself still succeeds.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        cluster_names: Callable[[], Iterable[str]],
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._cluster_names = cluster_names
        self._now = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        age = GaugeMetricFamily(
            f"{NAMESPACE}_backup_last_good_age_seconds",
            "Seconds since the newest verified backup of the cluster was taken (+Inf: none)",
            labels=["cluster"],
        )
        size = GaugeMetricFamily(
            f"{NAMESPACE}_backup_last_good_size_bytes",
            "Bytes of the newest verified backup of the cluster (snapshot and static-resources tarball)",
            labels=["cluster"],
        )
        try:
            now = self._now()
            with self._sessions() as session:
                for cluster in self._cluster_names():
                    good = backups.latest_verified_backup(cluster, session=session)
                    if good is None:
                        age.add_metric([cluster], math.inf)
                        continue
                    age.add_metric([cluster], max(0.0, (now - good.taken_at).total_seconds()))
                    size.add_metric([cluster], float(good.snapshot_size + (good.resources_size or 0)))
        except Exception as exc:  # a scrape must not fail because the database did not answer
            log.warning("metrics: cannot read the backup catalog: %s", str(exc).split("\n", 1)[0])
            return
        yield age
        yield size
