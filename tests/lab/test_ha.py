"""Acceptance (issue 7, HA): two ``etcdops serve`` replicas on one PostgreSQL, both connected over
Socket Mode to the local Slack, which — like Slack — hands each envelope to one connection.

The story, against the lab:

1. both replicas start at once (their migrations serialise on the database's advisory lock) and each
   serves its own probes; a health report is scheduled every minute;
2. a dozen commands typed in a row are spread over both connections and each is answered exactly once;
3. two backups run, each executed by one replica only (its steps journaled once);
4. a third backup: the replica that claimed it is SIGKILLed while its snapshot step runs on the master
   (cluster-backup.sh over SSH); the survivor takes the run over once its lease runs out, probes the
   master (the snapshot is done, or redone in the run's own folder) and finishes it — one folder on one
   master, one catalog entry, one run message — and commands typed after the kill are answered by the
   survivor;
5. the minute schedule fired in every minute of the story (at least one, after the kill) exactly once:
   one run per slot, no minute skipped, and one report per run in the channel.
"""

from __future__ import annotations

import datetime as dt
import itertools
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.settings import Settings
from lab.slack import LocalSlackThread, SlackConfig, SlackDriver
from runner.procedures.backup import REMOTE_ROOT
from storage import backups, journal
from storage.models import Run, RunStatus, StepStatus
from tests.lab.botkit import (
    CHANNEL,
    finished_run_message,
    run_id_of,
    run_story,
    serve_env,
    session_of,
    start_serve,
    stop_process,
)
from tests.lab.helpers import Lab, wait_for
from tests.ports import free_port
from tests.storage.conftest import (  # noqa: F401 - postgres_server: the fixture, for this test
    PostgresServer,
    fresh_database,
    postgres_server,
)

MASTERS = ("127.0.0.11", "127.0.0.12", "127.0.0.13")
REPLICAS = ("replica-a", "replica-b")
RUN_LEASE = 4.0  # seconds a killed replica's run waits before the survivor takes it


@pytest.fixture
def database(postgres_server: PostgresServer) -> Iterator[str]:  # noqa: F811 - the imported fixture
    with fresh_database(postgres_server, prefix="ha_") as url:
        yield url


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _claimer(settings: Settings, run_id: str) -> str | None:
    with session_of(settings) as session:
        run = session.get(Run, run_id)
        return run.claimed_by if run is not None else None


def _step_status(settings: Settings, run_id: str, step_id: str) -> str | None:
    with session_of(settings) as session:
        return next(
            (s.status for s in journal.steps_of(run_id, session=session) if s.step_id == step_id), None
        )


def _snapshot_dirs(lab: Lab, run_id: str) -> list[str]:
    """The masters holding a folder of the run's cluster-backup.sh output (one, if it ran once)."""
    found = []
    for ip in MASTERS:
        listed = lab.ssh(ip, f"sudo ls {REMOTE_ROOT} 2>/dev/null || true")
        if run_id in listed.split():
            found.append(ip)
    return found


def test_two_replicas_answer_once_execute_once_fire_once_and_survive_a_kill(
    lab: Lab,
    slack: tuple[LocalSlackThread, SlackConfig],
    settings: Settings,
    database: str,
    tmp_path: Path,
) -> None:
    settings = settings.model_copy(update={"database_url": database})
    driver = SlackDriver(slack[0].url)
    ports = {name: free_port() for name in REPLICAS}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    logs = {name: tmp_path / f"{name}.log" for name in REPLICAS}

    def tail(name: str) -> str:
        return logs[name].read_text()[-3000:]

    try:
        for name in REPLICAS:
            env = serve_env(
                settings,
                ETCDOPS_WORKER=name,
                ETCDOPS_OPS_PORT=str(ports[name]),
                ETCDOPS_OPS_HOST="127.0.0.1",
                ETCDOPS_RUN_LEASE_SECONDS=str(RUN_LEASE),
                ETCDOPS_SCHEDULER_LEASE_SECONDS="3",
                ETCDOPS_SCHEDULER_POLL_SECONDS="0.5",
            )
            processes[name] = start_serve(env, logs[name])
        wait_for("both replicas on Socket Mode", lambda: len(driver.connections()) == 2, 60, 0.2)
        for name in REPLICAS:
            wait_for(f"{name}'s /readyz", lambda n=name: _ready(ports[n]), 30, 0.2)  # type: ignore[misc]

        # 1. a health report every minute, from whichever replica holds the scheduler lease
        made = driver.slash("alice", CHANNEL, "/etcd", "schedule health * * * * *")
        schedule_id = next(m.text for m in made.in_channel if "schedule `s-" in m.text).split("schedule `")[
            1
        ][:7]

        # 2. every command answered once, by one connection or the other
        asked = [driver.slash(user, CHANNEL, "/etcd", "backups") for user in ("alice", "bob") * 6]
        assert all(r.acked and len(r.replies) == 1 for r in asked), [(r.acked, r.replies) for r in asked]
        assert len({r.acked_by for r in asked}) == 2, "both replicas' connections got envelopes"

        # 3. each run executed by one replica, its steps once
        done = []
        for _ in range(2):
            run_id = run_id_of(driver.slash("alice", CHANNEL, "/etcd", "backup"))
            message = finished_run_message(driver, run_id)
            assert "succeeded" in message.text.split("\n")[0], message.text
            done.append(run_id)
        with session_of(settings) as session:
            for run_id in done:
                assert all(s.attempt == 1 for s in journal.steps_of(run_id, session=session)), run_id

        # 4. the replica executing a backup is killed during its snapshot; the other finishes the run
        run_id = run_id_of(driver.slash("alice", CHANNEL, "/etcd", "backup"))
        started = StepStatus.STARTED
        wait_for(
            "the snapshot to start", lambda: _step_status(settings, run_id, "snapshot") == started, 60, 0.02
        )
        victim = _claimer(settings, run_id)
        assert victim in REPLICAS
        processes[victim].kill()
        processes[victim].wait(30)
        killed_at = dt.datetime.now(dt.UTC)
        survivor = next(name for name in REPLICAS if name != victim)
        wait_for("one Socket Mode connection left", lambda: len(driver.connections()) == 1, 30, 0.2)
        message = finished_run_message(driver, run_id, timeout=120)
        assert "succeeded" in message.text.split("\n")[0], f"{message.text}\n{run_story(settings, run_id)}"
        assert processes[survivor].poll() is None, tail(survivor)
        assert _claimer(settings, run_id) == survivor
        with session_of(settings) as session:
            steps = {s.step_id: s for s in journal.steps_of(run_id, session=session)}
            catalogued = [b for b in backups.list_backups("lab", session=session) if b.run_id == run_id]
        assert all(s.status == StepStatus.SUCCEEDED for s in steps.values()), run_story(settings, run_id)
        assert len(catalogued) == 1 and len(_snapshot_dirs(lab, run_id)) == 1
        said = [m for m in driver.transcript(CHANNEL) if m.user == "U0BOT" and f"run `{run_id}`" in m.text]
        assert len([m for m in said if not m.thread_ts]) == 1, "the run's one message, edited, not reposted"
        after = [driver.slash("carol", CHANNEL, "/etcd", "backups") for _ in range(3)]
        assert all(r.acked and len(r.replies) == 1 for r in after), [(r.acked, r.replies) for r in after]

        # 5. every minute of the story fired once, and after the kill too
        def fired_after_kill() -> list[Run] | None:
            with session_of(settings) as session:
                fired = session.exec(
                    select(Run).where(Run.schedule_id == schedule_id).order_by(col(Run.scheduled_for))
                ).all()
            last = fired[-1] if fired else None
            if last is None or last.scheduled_for is None or last.scheduled_for <= killed_at:
                return None
            return list(fired) if all(r.status == RunStatus.SUCCEEDED for r in fired) else None

        fired = wait_for("a scheduled report after the kill", fired_after_kill, 90, 1)
        slots = [r.scheduled_for for r in fired if r.scheduled_for is not None]
        assert len(slots) == len(set(slots)) == len(fired) >= 1, slots
        assert all(b - a == dt.timedelta(minutes=1) for a, b in itertools.pairwise(slots)), slots
        reports = [m for m in driver.transcript(CHANNEL) if m.user == "U0BOT" and "*lab* is " in m.text]
        assert len(reports) == len(fired), [m.text.split("\n")[0] for m in reports]
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    stop_process(process)
