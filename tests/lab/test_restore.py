"""``/etcd restore`` (seed 3.3) against the lab through the local Slack, as real users: a backup, an object
made after it, a critical object deleted, quorum lost — then the restore, approved by bob and carol,
brings the deleted object back, drops the later one, and leaves three healthy members at the latest
revisions. Bad restores are refused before anyone is asked to approve."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from bot.blocks import APPROVE_ACTION
from lab.slack import Message, SlackDriver
from tests.lab.botkit import CHANNEL, finished_run_message, run_id_of, status_report
from tests.lab.helpers import Lab, etcdops

RESOURCES = ("etcd", "kubeapiserver", "kubecontrollermanager", "kubescheduler")


def backup_number(bot: SlackDriver) -> int:
    """Take a backup as alice; its catalog number, from the run's message."""
    done = finished_run_message(bot, run_id_of(bot.slash("alice", CHANNEL, "/etcd", "backup")))
    assert "succeeded" in done.text.split("\n")[0], done.text
    found = re.search(r"backup #(\d+)", done.text)
    assert found, done.text
    return int(found.group(1))


def restore(bot: SlackDriver, text: str) -> str:
    result = bot.slash("alice", CHANNEL, "/etcd", f"restore {text}")
    assert result.acked and "requested" in " ".join(m.text for m in result.ephemeral), result
    return run_id_of(result)


def approval_of(bot: SlackDriver, run_id: str, timeout: float = 90) -> Message:
    def pending(messages: list[Message]) -> Message | None:
        return next(
            (m for m in messages if f"run `{run_id}`" in m.text and "Approval needed: *restore*" in m.text),
            None,
        )

    found: Message = bot.wait_for(CHANNEL, pending, timeout=timeout, interval=0.2)
    return found


def approve(bot: SlackDriver, message: Message, *users: str) -> None:
    value = str(message.blocks[-1]["elements"][0]["value"])  # type: ignore[index]
    for user in users:
        clicked = bot.click(user, message.ts, APPROVE_ACTION, value, channel=CHANNEL, settle=0.3)
        assert not clicked.ephemeral, [m.text for m in clicked.ephemeral]


def break_the_cluster(lab: Lab) -> None:
    """The seed's disaster after a backup: a later object, a critical one deleted, quorum lost."""
    lab.kubectl("create", "configmap", "made-after-backup", "-n", "default", "--from-literal=lost=yes")
    etcdops("lab", "fault", "delete-object", "configmap/critical-config", "-n", "default")
    assert "critical-config" not in lab.kubectl("get", "configmaps", "-n", "default")
    etcdops("lab", "fault", "lose-quorum")


def api_is_down(lab: Lab) -> bool:
    answered = lab.kubectl("--request-timeout=5s", "get", "nodes", check=False, with_stderr=True)
    return "Ready" not in answered


def assert_restored(lab: Lab, revisions_before: dict[str, int]) -> None:
    configmaps = lab.kubectl("get", "configmaps", "-n", "default")
    assert "critical-config" in configmaps, "the object deleted after the backup is back"
    assert "made-after-backup" not in configmaps, "the object created after the backup is gone"
    for resource in RESOURCES:
        progressing = lab.condition(resource, "NodeInstallerProgressing", "reason")
        assert progressing == "AllNodesAtLatestRevision", (resource, progressing)
        assert lab.latest_revision(resource) > revisions_before[resource], resource
    running = [row for row in lab.etcd_pods() if row[2] == "Running"]
    assert len(running) == 3, lab.etcd_pods()
    lab.wait_three_healthy(timeout=60)


def test_restore_after_losing_quorum_with_two_approvals(lab: Lab, bot: SlackDriver) -> None:
    lab.kubectl("create", "configmap", "critical-config", "-n", "default", "--from-literal=keep=me")
    number = backup_number(bot)
    revisions = {resource: lab.latest_revision(resource) for resource in RESOURCES}
    break_the_cluster(lab)

    run_id = restore(bot, f"#{number}")
    request = approval_of(bot, run_id)
    assert "cluster-restore.sh" in request.text and "ip-127-0-0-11.ec2.internal" in request.text, request.text
    assert "recovery-" in request.text and "kubelet.service" in request.text
    approve(bot, request, "bob", "carol")

    def moved_on_while_the_api_is_down(messages: list[Message]) -> Message | None:
        run = next((m for m in messages if "`restore` on *lab*" in m.text and run_id in m.text), None)
        done_step = ":white_check_mark: 3. Stop etcd on ip-127-0-0-12.ec2.internal"
        return run if run is not None and done_step in run.text else None

    bot.wait_for(CHANNEL, moved_on_while_the_api_is_down, timeout=120, interval=0.2)
    assert api_is_down(lab), "the run's message was updated while the API was down"

    done = finished_run_message(bot, run_id, timeout=600)
    assert "succeeded" in done.text.split("\n")[0], done.text
    assert f"restored from backup #{number}" in done.text
    assert_restored(lab, revisions)
    assert (
        lab.kubectl("get", "configmap", "critical-config", "-n", "default", "-o", "jsonpath={.data.keep}")
        == "me"
    )

    last = bot.transcript(CHANNEL)[-1].ts
    bot.slash("alice", CHANNEL, "/etcd", "status")
    report = status_report(bot, last, timeout=60)
    assert report.text.startswith(":large_green_circle: *lab*: 3 members are available"), report.text


def _refusal(bot: SlackDriver, text: str) -> str:
    """The failed run's message for a restore refused in its preflight; no approval was asked."""
    run_id = restore(bot, text)
    done = finished_run_message(bot, run_id, timeout=120)
    assert "failed" in done.text.split("\n")[0], done.text
    assert not any(
        f"run `{run_id}`" in m.text and "Approval needed" in m.text for m in bot.transcript(CHANNEL)
    ), "refused before any approval"
    return done.text


def _report_version(lab: Lab, version: str) -> None:
    """The cluster's version as ClusterVersion reports it (what an upgrade changes)."""
    desired = json.dumps({"status": {"desired": {"version": version}}})
    lab.kubectl("patch", "clusterversion", "version", "--subresource=status", "--type=merge", "-p", desired)


def test_bad_restores_are_refused_before_any_approval(lab: Lab, bot: SlackDriver, tmp_path: Path) -> None:
    number = backup_number(bot)
    with_quorum = _refusal(bot, f"#{number}")
    assert "etcd still has quorum" in with_quorum and "/etcd replace" in with_quorum, with_quorum

    dry = finished_run_message(bot, restore(bot, f"#{number} --dry-run --override-quorum"), timeout=120)
    assert "succeeded" in dry.text.split("\n")[0] and "nothing was done" in dry.text, dry.text

    unknown = bot.slash("alice", CHANNEL, "/etcd", "restore #999")
    assert "has no backup #999" in unknown.ephemeral[0].text and "/etcd backups" in unknown.ephemeral[0].text

    listed = " ".join(m.text for m in bot.slash("alice", CHANNEL, "/etcd", "backups").ephemeral)
    found = re.search(r"`(/[^`]+)/(snapshot_[^`/]+\.db)`", listed)
    assert found, listed
    folder = Path(found.group(1))
    snapshot = folder / found.group(2)
    tarball = next(folder.glob("static_kuberesources_*.tar.gz"))

    # the static-resources tarball is missing
    tarball.rename(tmp_path / tarball.name)
    missing = _refusal(bot, f"#{number} --override-quorum")
    assert "tarball" in missing and "is missing" in missing and "Pick another backup" in missing, missing
    (tmp_path / tarball.name).rename(tarball)

    # one byte of the snapshot flipped on disk
    shutil.copy2(snapshot, tmp_path / "good.db")
    with snapshot.open("r+b") as damaged:
        damaged.seek(4096)
        byte = damaged.read(1)
        damaged.seek(4096)
        damaged.write(bytes([byte[0] ^ 0xFF]))
    corrupted = _refusal(bot, f"#{number} --override-quorum")
    assert "is corrupted" in corrupted, corrupted
    shutil.copy2(tmp_path / "good.db", snapshot)

    # the cluster was upgraded since: another z-stream
    version = lab.kubectl("get", "clusterversion", "version", "-o", "jsonpath={.status.desired.version}")
    major, minor, patch = version.split(".")[:3]
    newer = f"{major}.{minor}.{int(patch) + 1}"
    _report_version(lab, newer)
    other = _refusal(bot, f"#{number} --override-quorum")
    assert f"taken on OpenShift {version}" in other and f"runs {newer}" in other, other
    assert "same z-stream" in other
    _report_version(lab, version)

    # a master that does not answer over SSH
    etcdops("lab", "fault", "stop-machine", "ip-127-0-0-13.ec2.internal")
    down = _refusal(bot, f"#{number} --override-quorum")
    assert "ip-127-0-0-13.ec2.internal (127.0.0.13) does not answer over SSH" in down, down
