"""A backup run executed by the engine against the lab, on a real SQLite journal — and resumed after the
process died between taking the snapshot and journaling it, without a second snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine as SqlEngine

from runner.adapters.kube import KubeApi
from runner.adapters.ssh import SshHosts
from runner.engine import Engine
from runner.procedures.backup import REMOTE_ROOT, BackupProcedure, ClusterClients
from runner.steps import StepContext, StepSpec
from storage import backups, journal, runs
from storage.db import make_engine, make_session_factory
from storage.migrate import migrate
from storage.models import RunStatus, StepStatus
from tests.lab.helpers import Lab


class Crash(BaseException):
    """Stands in for the process being killed: nothing in the engine catches it."""


@pytest.fixture
def database(tmp_path: Path) -> Iterator[SqlEngine]:
    url = f"sqlite:///{tmp_path / 'etcdops.db'}"
    migrate(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_backup_run_and_resume_after_a_crash(lab: Lab, database: SqlEngine, tmp_path: Path) -> None:
    sessions = make_session_factory(database)
    kube = KubeApi(kubeconfig=lab.kubeconfig)
    hosts = SshHosts(
        user="core", key_path=lab.root / "ssh/id_ed25519", known_hosts=lab.root / "ssh/known_hosts"
    )
    clients = ClusterClients(kube=kube, hosts=hosts)
    procedure = BackupProcedure(lambda _: clients, lambda cluster: tmp_path / "store" / cluster, sessions)
    try:
        with sessions() as session:
            first = runs.create_run(
                session=session, procedure="backup", cluster="lab", requested_by="U0ALICE"
            ).id
        assert Engine(sessions, {"backup": procedure}, "worker-a").run_once() == first
        with sessions() as session:
            assert runs.get_run(first, session=session).status == RunStatus.SUCCEEDED
            (entry,) = backups.list_backups("lab", session=session)
            assert entry.run_id == first and entry.key_count and entry.etcd_revision
            assert entry.verify_result is not None and entry.snapshot_sha256
        stored = tmp_path / "store/lab" / first
        assert sorted(p.name.split("_")[0] for p in stored.iterdir()) == ["snapshot", "static"]

        class CrashAfterSnapshot:
            name, destructive, adaptive = "backup", False, False

            def steps(self, context: StepContext) -> list[StepSpec]:
                specs = procedure.steps(context)

                def dies(ctx: StepContext, run=specs[1].execute) -> dict[str, object]:  # type: ignore[no-untyped-def]
                    run(ctx)
                    raise Crash

                specs[1] = StepSpec(specs[1].id, specs[1].title, dies, specs[1].probe)
                return specs

            def summary(self, context: StepContext) -> str:
                return procedure.summary(context)

        with sessions() as session:
            second = runs.create_run(
                session=session, procedure="backup", cluster="lab", requested_by="U0BOB"
            ).id
        with pytest.raises(Crash):
            Engine(sessions, {"backup": CrashAfterSnapshot()}, "worker-b", lease_seconds=0.5).run_once()
        with sessions() as session:
            interrupted = journal.unfinished_step(second, session=session)
            assert interrupted is not None and interrupted.step_id == "snapshot"
        host = _host_with(hosts, second)
        taken_first = hosts.run(host, ["ls", f"{REMOTE_ROOT}/{second}"], sudo=True).stdout.split()
        assert len(taken_first) == 2
        mtime = hosts.run(
            host, ["stat", "-c", "%Y", f"{REMOTE_ROOT}/{second}/{taken_first[0]}"], sudo=True
        ).stdout

        import time

        time.sleep(0.6)  # the dead worker's lease runs out
        assert Engine(sessions, {"backup": procedure}, "worker-c").run_once() == second
        with sessions() as session:
            assert runs.get_run(second, session=session).status == RunStatus.SUCCEEDED
            steps = {s.step_id: s for s in journal.steps_of(second, session=session)}
            assert steps["snapshot"].status == StepStatus.SUCCEEDED and steps["snapshot"].attempt == 1
            assert len(backups.list_backups("lab", session=session)) == 2
        after = hosts.run(host, ["ls", f"{REMOTE_ROOT}/{second}"], sudo=True).stdout.split()
        assert after == taken_first, "no second snapshot was taken"
        assert (
            hosts.run(host, ["stat", "-c", "%Y", f"{REMOTE_ROOT}/{second}/{after[0]}"], sudo=True).stdout
            == mtime
        )
    finally:
        hosts.close()
        kube.close()


def _host_with(hosts: SshHosts, run_id: str) -> str:
    for host in ("127.0.0.11", "127.0.0.12", "127.0.0.13"):
        if hosts.run(host, ["test", "-d", f"{REMOTE_ROOT}/{run_id}"], sudo=True).ok:
            return host
    raise AssertionError(f"no master holds the snapshot of {run_id}")
