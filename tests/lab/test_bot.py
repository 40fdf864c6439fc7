"""The bot against the lab, through the local Slack, as real users: ``/etcd status`` healthy and with a
machine stopped, ``/etcd backup`` producing a verified backup that ``/etcd backups`` lists, a full disk,
and a backup whose ``etcdops serve`` process is killed with SIGKILL and restarted."""

from __future__ import annotations

import datetime as dt
import signal
import time
from pathlib import Path

from bot.settings import Settings
from lab.slack import LocalSlackThread, SlackConfig, SlackDriver
from runner.procedures.backup import REMOTE_ROOT
from runner.snapshots import check_snapshot, sha256_file
from storage import backups, journal, runs
from storage.db import make_engine, make_session_factory
from storage.models import RunStatus, StepStatus
from tests.lab.botkit import (
    CHANNEL,
    finished_run_message,
    run_id_of,
    serve_env,
    start_serve,
    status_report,
    wait_connected,
    wait_http,
)
from tests.lab.helpers import Lab, etcdops, wait_for
from tests.ports import free_port

MASTERS = ("127.0.0.11", "127.0.0.12", "127.0.0.13")


def _member_lines(text: str) -> list[str]:
    return text.split("*Members*\n")[1].split("\n*Masters*")[0].splitlines()


def _status(driver: SlackDriver, user: str = "alice") -> tuple[str, float]:
    before = driver.transcript(CHANNEL)
    last = before[-1].ts if before else "0"
    started = time.monotonic()
    result = driver.slash(user, CHANNEL, "/etcd", "status")
    assert result.acked and result.ack_latency_ms is not None and result.ack_latency_ms < 3000
    report = status_report(driver, last, timeout=30)
    return report.text, time.monotonic() - started


def _catalog(settings: Settings) -> list[backups.Backup]:
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            return list(backups.list_backups("lab", session=session))
    finally:
        engine.dispose()


def _step_finish_times(settings: Settings, run_id: str) -> list[dt.datetime | None]:
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            return [s.finished_at for s in journal.steps_of(run_id, session=session)]
    finally:
        engine.dispose()


def test_status_healthy_then_with_a_machine_stopped_and_a_backup_from_another_master(
    lab: Lab, bot: SlackDriver, settings: Settings
) -> None:
    text, took = _status(bot)
    assert text.startswith(":large_green_circle: *lab*: 3 members are available")
    members = _member_lines(text)
    assert len(members) == 3 and all(line.startswith("✅") for line in members)
    assert sum(1 for line in members if "(leader)" in line) == 1
    assert text.count(" Ready") == 3 and "3/3 Running" in text
    assert "etcd certificates expire in" in text and "no backup recorded yet" in text

    etcdops("lab", "fault", "stop-machine", "ip-127-0-0-11.ec2.internal")
    wait_for(
        "the etcd operator to see the member go",
        lambda: "2 of 3" in lab.condition("etcd", "EtcdMembersAvailable"),
        timeout=60,
    )
    text, took = _status(bot, "bob")
    assert took < 15, f"status took {took:.1f} s with a member down"
    assert text.startswith(":warning: *lab*: 2 of 3 members are available")
    down = [line for line in _member_lines(text) if "ip-127-0-0-11" in line]
    assert len(down) == 1 and down[0].startswith("❌"), text
    assert sum(1 for line in _member_lines(text) if line.startswith("✅")) == 2

    # A backup now: 127.0.0.11 does not answer, so another healthy master takes it.
    result = bot.slash("alice", CHANNEL, "/etcd", "backup")
    run_id = run_id_of(result)
    message = finished_run_message(bot, run_id)
    assert "succeeded" in message.text.split("\n")[0], message.text
    (entry,) = _catalog(settings)
    assert entry.host in ("127.0.0.12", "127.0.0.13") and entry.verify_result == "ok"


def test_backup_is_verified_listed_and_a_full_disk_is_refused_cleanly(
    lab: Lab, bot: SlackDriver, settings: Settings
) -> None:
    result = bot.slash("alice", CHANNEL, "/etcd", "backup")
    assert result.acked and "Backup of *lab* on a healthy master requested" in result.ephemeral[0].text
    run_id = run_id_of(result)
    message = finished_run_message(bot, run_id)
    assert message.text.startswith(":white_check_mark: `backup` on *lab* — succeeded"), message.text
    assert message.text.count(":white_check_mark: ") == 7  # the run and its six steps
    thread = bot.thread(CHANNEL, message.ts)
    assert any("snapshot db and kube resources are successfully saved" in m.text for m in thread)
    changes = [e.at for e in message.edits]
    for when in _step_finish_times(settings, run_id):
        assert when is not None
        assert any(0 <= at - when.timestamp() <= 1.0 for at in changes), "each step shows within 1 s"

    (entry,) = _catalog(settings)
    assert entry.run_id == run_id and entry.verify_result == "ok"
    assert entry.key_count and entry.etcd_revision and entry.openshift_version.startswith("4.")
    stored = Path(entry.location)
    snapshot = stored / entry.snapshot_name
    assert stored == lab.root / "backups" / "lab" / run_id
    assert sha256_file(snapshot) == entry.snapshot_sha256 and check_snapshot(snapshot).ok
    assert entry.resources_name and (stored / entry.resources_name).stat().st_size == entry.resources_size

    listed = bot.slash("bob", CHANNEL, "/etcd", "backups")
    (reply,) = [m.text for m in listed.ephemeral]
    assert f"*#{entry.id}*" in reply and entry.snapshot_sha256[:12] in reply and "verified" in reply
    assert f"revision {entry.etcd_revision}, {entry.key_count} keys" in reply

    # A full disk on the chosen master: a clear error, and no partial file anywhere.
    tiny = f"sudo mkdir -p {REMOTE_ROOT} && sudo mount -t tmpfs -o size=64k tmpfs {REMOTE_ROOT}"
    lab.ssh("127.0.0.12", tiny)
    try:
        full = bot.slash("alice", CHANNEL, "/etcd", "backup --host ip-127-0-0-12.ec2.internal")
        failed_id = run_id_of(full)
        failed = finished_run_message(bot, failed_id)
        assert "failed" in failed.text.split("\n")[0]
        assert "MiB free in /home/core/etcdops-backups; a backup needs twice the etcd database" in failed.text
        assert lab.ssh("127.0.0.12", f"sudo ls -A {REMOTE_ROOT}").strip() == ""
    finally:
        lab.ssh("127.0.0.12", f"sudo umount {REMOTE_ROOT}")
    assert not (lab.root / "backups" / "lab" / failed_id).exists()
    assert len(_catalog(settings)) == 1

    bad = bot.slash("mallory", CHANNEL, "/etcd", "backup --host 'a;reboot'")
    assert "`--host` needs a node name or address" in bad.ephemeral[0].text


def test_a_backup_killed_with_sigkill_resumes_without_a_second_snapshot(
    lab: Lab, slack: tuple[LocalSlackThread, SlackConfig], settings: Settings, tmp_path: Path
) -> None:
    driver = SlackDriver(slack[0].url)
    log = tmp_path / "serve.log"
    first = start_serve(serve_env(settings, ETCDOPS_KILL_AFTER_STEP="snapshot"), log)
    try:
        wait_connected(driver, first)
        result = driver.slash("alice", CHANNEL, "/etcd", "backup")
        run_id = run_id_of(result)
        assert first.wait(timeout=120) == -signal.SIGKILL, log.read_text()[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    try:
        with sessions() as session:
            interrupted = journal.unfinished_step(run_id, session=session)
            assert interrupted is not None and interrupted.step_id == "snapshot"
        (host,) = [ip for ip in MASTERS if _has(lab, ip, run_id)]
        files_before = lab.ssh(host, f"sudo ls -l --time-style=+%s.%N {REMOTE_ROOT}/{run_id}")
        assert "snapshot_" in files_before and "static_kuberesources_" in files_before

        port = free_port()
        second = start_serve(serve_env(settings), log, "--http", "--port", str(port))
        try:
            url = wait_http(port, second)
            driver.set_request_url(url)
            message = finished_run_message(driver, run_id, timeout=120)
            assert "succeeded" in message.text.split("\n")[0], log.read_text()[-3000:]
            forged = driver.slash("bob", CHANNEL, "/etcd", "backup", bad_signature=True)
            stale = driver.slash("bob", CHANNEL, "/etcd", "backup", timestamp_skew=-301)
            assert forged.http_status == 401 and stale.http_status == 401
            unknown = driver.slash("bob", CHANNEL, "/etcd", "snapshot now")
            assert "`snapshot` is not an etcdops command" in unknown.ephemeral[0].text
        finally:
            driver.set_request_url(None)
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=60) == 0, log.read_text()[-3000:]
        assert lab.ssh(host, f"sudo ls -l --time-style=+%s.%N {REMOTE_ROOT}/{run_id}") == files_before
        with sessions() as session:
            assert runs.get_run(run_id, session=session).status == RunStatus.SUCCEEDED
            steps = {s.step_id: s for s in journal.steps_of(run_id, session=session)}
            assert steps["snapshot"].status == StepStatus.SUCCEEDED and steps["snapshot"].attempt == 1
            (entry,) = backups.list_backups("lab", session=session)
            assert entry.run_id == run_id and entry.host == host and entry.verify_result == "ok"
        assert sha256_file(Path(entry.location) / entry.snapshot_name) == entry.snapshot_sha256
        posted = [m for m in driver.transcript(CHANNEL) if f"run `{run_id}`" in m.text and m.user == "U0BOT"]
        assert len(posted) == 1, "the restarted bot edits the run's message instead of posting another"
    finally:
        engine.dispose()


def _has(lab: Lab, ip: str, run_id: str) -> bool:
    return "snapshot_" in lab.ssh(ip, f"sudo ls {REMOTE_ROOT}/{run_id}", check=False)
