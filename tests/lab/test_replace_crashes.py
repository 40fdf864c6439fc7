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

from bot.blocks import APPROVE_ACTION
from bot.settings import Settings
from lab.slack import LocalSlackThread, SlackConfig, SlackDriver
from lab.slack.driver import LabSlackError
from storage import journal, runs
from storage.db import make_engine, make_session_factory
from storage.models import Approval, RunStatus
from tests.lab.botkit import CHANNEL, run_id_of, serve_env, start_serve, wait_connected
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


def _approve_what_is_pending(driver: SlackDriver, run_id: str) -> int:
    """bob and carol approve every open request of the run; how many requests they approved."""
    approved = 0
    for message in driver.transcript(CHANNEL):
        if f"run `{run_id}`" not in message.text or "Approval needed" not in message.text:
            continue
        if not message.blocks or message.blocks[-1].get("type") != "actions":
            continue
        value = str(message.blocks[-1]["elements"][0]["value"])
        acked = []
        for user in ("bob", "carol"):
            try:
                acked.append(driver.click(user, message.ts, APPROVE_ACTION, value, channel=CHANNEL).acked)
            except LabSlackError as exc:  # the request was decided and its buttons removed meanwhile
                assert exc.code == "action_not_found", exc
                acked.append(False)
        approved += all(acked)
    return approved


def _session(settings: Settings):  # type: ignore[no-untyped-def]
    return make_session_factory(make_engine(settings.database_url))()


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
        wait_for("the backup", lambda: _status(settings, backup) == RunStatus.SUCCEEDED, 120, 0.5)
        etcdops("lab", "fault", "stop-machine", DOWN)
        wait_for(
            "the member to be unhealthy", lambda: "2 of 3" in lab.condition("etcd", "EtcdMembersAvailable")
        )
        run_id = run_id_of(driver.slash("alice", CHANNEL, "/etcd", f"replace {DOWN}"))
        assert process.wait(120) == -signal.SIGKILL, log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    approvals = 0
    for step in BOUNDARIES[1:]:
        process = start_serve(serve_env(settings, ETCDOPS_KILL_AFTER_STEP=step), log)
        try:
            deadline = time.monotonic() + 300
            while process.poll() is None:
                assert time.monotonic() < deadline, f"no kill after {step}:\n{log.read_text()[-3000:]}"
                approvals += _approve_what_is_pending(driver, run_id)
                time.sleep(0.3)
            assert process.returncode == -signal.SIGKILL, f"after {step}: {log.read_text()[-3000:]}"
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert _status(settings, run_id) in (RunStatus.RUNNING, RunStatus.WAITING_APPROVAL)
    process = start_serve(serve_env(settings), log)
    try:
        wait_for(
            "the replacement to finish",
            lambda: _status(settings, run_id) not in ("running", "waiting_approval", "pending"),
            300,
            1,
        )
        assert _status(settings, run_id) == RunStatus.SUCCEEDED, log.read_text()[-3000:]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    assert approvals >= 3
    with _session(settings) as session:
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
    with _session(settings) as session:
        steps = {s.step_id: s for s in journal.steps_of(run_id, session=session)}
    assert all(s.status == "succeeded" for s in steps.values())
    assert steps["remove-member"].attempt == 1 and steps["delete-machine"].attempt == 1
    lab.wait_three_healthy(timeout=120)


def _status(settings: Settings, run_id: str) -> str:
    with _session(settings) as session:
        return runs.get_run(run_id, session=session).status
