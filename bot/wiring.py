"""Everything one etcdops process is made of, built from its settings: database, clusters, adapters,
procedures, the runner and the relay. The CLI, the demo and the tests all assemble the bot here, so they
run the same thing.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Engine as SqlEngine

from bot.backup_stores import BackupStores
from bot.clusters import Action, ClustersFile, load_clusters, parse_duration
from bot.health_blocks import render_change, render_report, render_reports
from bot.settings import Settings
from runner.adapters.kube import KubeApi
from runner.adapters.scratch_etcd import restore_and_count
from runner.adapters.ssh import SshHosts
from runner.approvals import ApprovalGate, Policy
from runner.engine import Engine
from runner.firing import FiringEnqueuer
from runner.health import Thresholds
from runner.procedures.backup import BackupProcedure, ClusterClients
from runner.procedures.csr import CsrProcedure
from runner.procedures.diagnose import DiagnoseProcedure
from runner.procedures.health import HealthGatherer, HealthProcedure, HealthWatch
from runner.procedures.health_facts import verified_backup_lookup
from runner.procedures.prune import PruneProcedure
from runner.procedures.replace import ReplaceProcedure
from runner.procedures.restore import RestoreProcedure
from runner.procedures.status import StatusProcedure
from runner.procedures.verify import VerifyProcedure
from runner.retention import RetentionPolicy
from runner.scheduler import Clock, Periodic, ScheduleService, utc_now
from runner.service import RunnerService
from runner.steps import Procedure
from storage.db import SessionFactory, make_engine, make_session_factory
from storage.leases import LeaseKeeper
from storage.migrate import migrate

log = logging.getLogger(__name__)
RELAY_LEASE = "relay"


class ClusterAdapters:
    """One Kubernetes client and one SSH pool per cluster, made on first use and shared by the runs."""

    def __init__(self, clusters: ClustersFile) -> None:
        self._clusters = clusters
        self._made: dict[str, ClusterClients] = {}
        self._lock = threading.Lock()

    def __call__(self, name: str) -> ClusterClients:
        with self._lock:
            if name not in self._made:
                cluster = self._clusters.get(name)
                kube = KubeApi(kubeconfig=cluster.kubeconfig, context=cluster.context)
                hosts = SshHosts(
                    user=cluster.ssh.user,
                    key_path=cluster.ssh.key,
                    known_hosts=cluster.ssh.known_hosts,
                    port=cluster.ssh.port,
                )
                self._made[name] = ClusterClients(kube=kube, hosts=hosts)
            return self._made[name]

    def close(self) -> None:
        with self._lock:
            made, self._made = list(self._made.values()), {}
        for clients in made:
            clients.kube.close()
            clients.hosts.close()


def default_worker_name() -> str:
    """Stable across restarts of the same process on the same machine, so a restart resumes its runs."""
    return f"etcdops@{socket.gethostname()}"


@dataclass
class Wiring:
    """The parts of a running bot; ``close`` releases what they hold."""

    settings: Settings
    clusters: ClustersFile
    sessions: SessionFactory
    adapters: ClusterAdapters
    procedures: dict[str, Procedure]
    engine: Engine
    database: SqlEngine
    schedules: ScheduleService
    worker: str  # this process's name: runs it claims, leases it holds

    def runner(self, workers: int | None = None) -> RunnerService:
        stopping = self.engine.approvals.stopping if self.engine.approvals else None
        return RunnerService(
            self.engine,
            workers=workers or self.settings.etcdops_runner_workers,
            stopping=stopping or threading.Event(),
        )

    def relay_lease(self) -> LeaseKeeper:
        """The lease that lets one replica only post the timeline to Slack."""
        return LeaseKeeper(
            self.sessions,
            RELAY_LEASE,
            self.worker,
            dt.timedelta(seconds=self.settings.etcdops_scheduler_lease_seconds),
        )

    def close(self) -> None:
        self.schedules.stop()
        self.adapters.close()
        self.database.dispose()


def wire(
    settings: Settings,
    *,
    run_migrations: bool = True,
    extra_procedures: Mapping[str, Procedure] | None = None,
    clock: Clock = utc_now,
) -> Wiring:
    """Load the clusters file, open (and migrate) the database, and build the procedures and the engine."""
    clusters = load_clusters(settings.etcdops_clusters)
    if run_migrations:
        migrate(settings.database_url)
    database = make_engine(settings.database_url)
    sessions = make_session_factory(database)
    adapters = ClusterAdapters(clusters)
    stores = BackupStores(clusters, settings.etcdops_scratch_dir)
    names = functools.partial(_cluster_names, clusters)
    gatherer = HealthGatherer(
        lambda name: adapters(name).kube,
        verified_backup_lookup(sessions),
        functools.partial(_thresholds, clusters),
        clock,
    )
    procedures: dict[str, Procedure] = {
        "status": StatusProcedure(lambda name: adapters(name).kube, sessions),
        "diagnose": DiagnoseProcedure(lambda name: adapters(name).kube),
        "backup": BackupProcedure(
            adapters,
            stores.landing,
            sessions,
            store=stores.offsite,
            retention=lambda name: _retention(clusters, name) is not None,
        ),
        "prune": PruneProcedure(functools.partial(_retention, clusters), stores.holding, sessions),
        "health": HealthProcedure(gatherer, names, render_report, render_reports),
        "verify": VerifyProcedure(
            stores.holding,
            lambda name: adapters(name).kube,
            sessions,
            lambda snapshot, folder: restore_and_count(snapshot, workdir=folder),
            settings.etcdops_scratch_dir,
        ),
        "replace": ReplaceProcedure(adapters),
        "restore": RestoreProcedure(
            adapters,
            sessions,
            stores=stores.holding,
            staging=(settings.etcdops_scratch_dir / "restore") if settings.etcdops_scratch_dir else None,
        ),
        "csr": CsrProcedure(adapters),
        **(extra_procedures or {}),
    }
    worker = settings.etcdops_worker or default_worker_name()
    engine = Engine(
        sessions,
        procedures,
        worker,
        lease_seconds=settings.etcdops_run_lease_seconds,
        kill_after_step=settings.etcdops_kill_after_step or None,
        approvals=ApprovalGate(sessions, functools.partial(_policy, clusters), stopping=threading.Event()),
    )
    scheduler = ScheduleService(
        database,
        sessions,
        FiringEnqueuer(sessions, functools.partial(_default_channel, clusters)),
        holder=worker,
        now=clock,
        poll_seconds=settings.etcdops_scheduler_poll_seconds,
        lease_seconds=settings.etcdops_scheduler_lease_seconds,
        periodic=[
            Periodic(
                dt.timedelta(seconds=settings.etcdops_health_watch_seconds),
                HealthWatch(
                    gatherer, sessions, names, functools.partial(_default_channel, clusters), render_change
                ),
            )
        ],
    )
    return Wiring(settings, clusters, sessions, adapters, procedures, engine, database, scheduler, worker)


def _default_channel(clusters: ClustersFile, name: str) -> str | None:
    try:
        return clusters.get(name).default_channel
    except KeyError:
        return None


def _policy(clusters: ClustersFile, cluster: str, action: str) -> Policy:
    policy = clusters.get(cluster).policy(cast(Action, action))
    return Policy(required=policy.approvers, expiry_seconds=policy.expiry_seconds)


def _cluster_names(clusters: ClustersFile) -> list[str]:
    return [c.name for c in clusters.clusters]


def _thresholds(clusters: ClustersFile, name: str) -> Thresholds:
    return Thresholds(backup_max_age=dt.timedelta(seconds=parse_duration(clusters.get(name).backup_max_age)))


def _retention(clusters: ClustersFile, name: str) -> RetentionPolicy | None:
    kept = clusters.get(name).retention
    if kept is None:
        return None
    return RetentionPolicy(
        keep_last=kept.keep_last,
        max_age=dt.timedelta(seconds=parse_duration(kept.max_age)) if kept.max_age else None,
        max_total_bytes=int(kept.max_total_size) if kept.max_total_size is not None else None,
    )
