"""Seed 2.4.1 through ``/etcd replace`` with ``etcdops serve`` killed with SIGKILL at every step
boundary in turn — right after each step's work, before it is journaled, the worst moment — and
restarted each time: the replacement completes, with exactly one machine deletion and one creation (the
API server's audit log), the member removed once (its step ran once; the restart's probe found it done),
and no approval asked twice."""

from __future__ import annotations

import json
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
    serve_env,
    serve_until_finished,
    session_of,
    start_serve,
    stop_process,
    wait_connected,
)
from tests.lab.helpers import Lab, etcdops, wait_for

DOWN = "ip-127-0-0-11.ec2.internal"
BOUNDARIES = (
    "confirm",
    "remove-member",
    "delete-secrets",
    "save-machine",
    "delete-machine",
    "create-machine",
    "wait-machine",
    "wait-etcd-pods",
)


def test_replace_survives_a_kill_at_every_step_boundary(
    lab: Lab, slack: tuple[LocalSlackThread, SlackConfig], settings: Settings, tmp_path: Path
) -> None:
    driver = SlackDriver(slack[0].url)
    log = tmp_path / "serve.log"
    # The first process takes the backup and records the replacement, then dies right after step 1.
    process = start_serve(serve_env(settings, ETCDOPS_KILL_AFTER_STEP=BOUNDARIES[0]), log)
    try:
        wait_connected(driver, process)
        backup = run_id_of(driver.slash("alice", CHANNEL, "/etcd", "backup"))
        wait_for("the backup", lambda: run_status(settings, backup) == RunStatus.SUCCEEDED, 120, 0.5)
        etcdops("lab", "fault", "stop-machine", DOWN)
        wait_for(
            "the member to be unhealthy", lambda: "2 of 3" in lab.condition("etcd", "EtcdMembersAvailable")
        )
        run_id = run_id_of(driver.slash("alice", CHANNEL, "/etcd", f"replace {DOWN}"))
        assert process.wait(120) == -signal.SIGKILL, log.read_text()[-3000:]
    finally:
        stop_process(process)
    approvals = 0
    for step in BOUNDARIES[1:]:
        process = start_serve(serve_env(settings, ETCDOPS_KILL_AFTER_STEP=step), log)
        try:
            deadline = time.monotonic() + 300
            while process.poll() is None:
                assert time.monotonic() < deadline, f"no kill after {step}:\n{log.read_text()[-3000:]}"
                approvals += approve_what_is_pending(driver, run_id)
                time.sleep(0.3)
            assert process.returncode == -signal.SIGKILL, f"after {step}: {log.read_text()[-3000:]}"
        finally:
            stop_process(process)
        assert run_status(settings, run_id) in (RunStatus.RUNNING, RunStatus.WAITING_APPROVAL)
    final = serve_until_finished(settings, run_id, log, 300)
    assert final == RunStatus.SUCCEEDED, log.read_text()[-3000:]
    assert approvals >= 3
    with session_of(settings) as session:
        requests = session.exec(select(Approval).where(Approval.run_id == run_id)).all()
    assert sorted(a.action for a in requests) == ["machine_deletion", "member_removal", "secret_deletion"], (
        "each destructive step was asked for once, whatever the restarts"
    )

    audit = [json.loads(line) for line in (lab.root / "logs/audit.jsonl").read_text().splitlines()]
    machines = [r for r in audit if r["resource"] == "machines" and r["verb"] in ("create", "delete")]
    deleted = [r for r in machines if r["verb"] == "delete" and r["code"] == 200]
    created = [r for r in machines if r["verb"] == "create" and r["code"] == 201]
    assert [r["name"] for r in deleted] == ["lab-8qw5l-master-0"], machines
    assert len(created) == 1, machines
    with session_of(settings) as session:
        steps = {s.step_id: s for s in journal.steps_of(run_id, session=session)}
    assert all(s.status == "succeeded" for s in steps.values())
    assert steps["remove-member"].attempt == 1 and steps["delete-machine"].attempt == 1
    lab.wait_three_healthy(timeout=120)
