"""``/etcd restore`` with ``etcdops serve`` killed with SIGKILL in the SSH phase (after a master's etcd
was stopped, and right after cluster-restore.sh finished) and in the redeployment phase (after a forced
redeployment, and while waiting for a rollout) — each time right after the step's work, before it is
journaled — and restarted: the restore completes and the cluster is the backup's, cluster-restore.sh ran
exactly once, the steps with probes were found done instead of redone (a wait is simply waited again),
and the one approval was asked once."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from sqlmodel import select

from bot.settings import Settings
from lab.slack import LocalSlackThread, SlackConfig, SlackDriver
from storage import journal
from storage.models import Approval, RunStatus
from tests.lab.botkit import (
    CHANNEL,
    approve_what_is_pending,
    run_id_of,
    run_status,
    run_story,
    serve_env,
    serve_until_finished,
    session_of,
    start_serve,
    stop_process,
    wait_connected,
)
from tests.lab.helpers import Lab, wait_for
from tests.lab.test_restore import RESOURCES, assert_restored, break_the_cluster

KILLS = ("stop-etcd-ip-127-0-0-12.ec2.internal", "restore", "redeploy-etcd", "wait-kubeapiserver")


def test_restore_survives_kills_in_the_ssh_and_the_redeployment_phases(
    lab: Lab, slack: tuple[LocalSlackThread, SlackConfig], settings: Settings, tmp_path: Path
) -> None:
    driver = SlackDriver(slack[0].url)
    log = tmp_path / "serve.log"
    lab.kubectl("create", "configmap", "critical-config", "-n", "default", "--from-literal=keep=me")
    process = start_serve(serve_env(settings, ETCDOPS_KILL_AFTER_STEP=KILLS[0]), log)
    try:
        wait_connected(driver, process)
        backup = run_id_of(driver.slash("alice", CHANNEL, "/etcd", "backup"))
        wait_for("the backup", lambda: run_status(settings, backup) == RunStatus.SUCCEEDED, 120, 0.5)
        revisions = {resource: lab.latest_revision(resource) for resource in RESOURCES}
        break_the_cluster(lab)
        run_id = run_id_of(driver.slash("alice", CHANNEL, "/etcd", "restore #1"))
        approvals = 0
        deadline = time.monotonic() + 180
        while process.poll() is None:
            assert time.monotonic() < deadline, (
                f"no kill after {KILLS[0]}:\n{run_story(settings, run_id)}\n{log.read_text()[-3000:]}"
            )
            approvals += approve_what_is_pending(driver, run_id)
            time.sleep(0.3)
        assert process.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    finally:
        stop_process(process)
    for step in KILLS[1:]:
        process = start_serve(serve_env(settings, ETCDOPS_KILL_AFTER_STEP=step), log)
        try:
            assert process.wait(400) == -signal.SIGKILL, f"after {step}: {log.read_text()[-3000:]}"
        finally:
            stop_process(process)
        assert run_status(settings, run_id) == RunStatus.RUNNING
    final = serve_until_finished(settings, run_id, log, 400)
    assert final == RunStatus.SUCCEEDED, log.read_text()[-3000:]

    assert approvals == 1
    with session_of(settings) as session:
        requests = session.exec(select(Approval).where(Approval.run_id == run_id)).all()
        steps = {s.step_id: s for s in journal.steps_of(run_id, session=session)}
    assert [a.action for a in requests] == ["restore"], "the restore was approved once, whatever the restarts"
    assert all(s.status == "succeeded" for s in steps.values())
    for step in KILLS[:3]:
        assert steps[step].attempt == 1, f"{step} ran once: the restart's probe found it done"
    assert steps[KILLS[3]].attempt == 2, "a wait has no probe: waiting again is harmless"
    restore_log = lab.ssh("127.0.0.11", f"sudo cat /home/core/etcdops-restore/{run_id}/restore.log")
    assert "removing previous backup" not in restore_log, "cluster-restore.sh ran once"
    assert_restored(lab, revisions)
