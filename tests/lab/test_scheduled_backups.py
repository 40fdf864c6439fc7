"""Scheduled backups end to end, through the local Slack: the schedule fires at its time (the bot's clock
is moved, nothing sleeps for minutes), both files land in an S3 server (moto's, over HTTP) with their
checksums checked and server-side encryption on, the static-resources tarball apart because etcd
encryption is on, retention prunes the oldest, verification (typed, and on its own schedule) restores the
snapshot into a scratch etcd, a restore's preflight fetches the off-site files back, and an off-site copy
damaged afterwards is caught by verification and refused by a restore."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.process import EtcdopsProcess
from bot.settings import Settings
from lab.slack import LocalSlackThread, SlackConfig, SlackDriver
from storage import backups, runs, schedules
from tests.lab.botkit import (
    CHANNEL,
    MovableClock,
    finished_run_message,
    lab_settings,
    run_id_of,
    session_of,
)
from tests.lab.helpers import Lab, wait_for
from tests.s3kit import MotoS3, moto_server


@pytest.fixture
def s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoS3]:
    with moto_server(tmp_path) as server:
        for key, value in server.environment().items():
            monkeypatch.setenv(key, value)
        yield server


def offsite_clusters_file(lab: Lab, s3: MotoS3, bucket: str, folder: Path) -> Path:
    """The lab's clusters file with its backups going to the S3 bucket, and a retention policy."""
    profile = yaml.safe_load((lab.root / "cluster.yaml").read_text())
    profile["clusters"][0]["backup_store"] = {
        "type": "s3",
        "bucket": bucket,
        "prefix": "etcd/",
        "endpoint_url": s3.url,
        "region": s3.region,
        "server_side_encryption": "AES256",
    }
    profile["clusters"][0]["retention"] = {"keep_last": 1}
    path = folder / "clusters.yaml"
    path.write_text(yaml.safe_dump(profile))
    return path


def scheduled_run(settings: Settings, schedule_id: str, slot: dt.datetime) -> str:
    def enqueued() -> str | None:
        with session_of(settings) as session:
            run = schedules.firing_run(schedule_id, slot, session=session)
            return run.id if run else None

    return wait_for(f"the {slot:%H:%M} firing of {schedule_id}", enqueued, timeout=30, interval=0.2)


def test_scheduled_backups_go_offsite_are_pruned_and_verified(
    lab: Lab, slack: tuple[LocalSlackThread, SlackConfig], s3: MotoS3, tmp_path: Path
) -> None:
    bucket = s3.new_bucket()
    lab.kubectl(
        "patch", "apiserver", "cluster", "--type=merge", "-p", '{"spec":{"encryption":{"type":"aescbc"}}}'
    )
    settings = lab_settings(lab, slack[0], slack[1], tmp_path).model_copy(
        update={
            "etcdops_clusters": offsite_clusters_file(lab, s3, bucket, tmp_path),
            "etcdops_scheduler_poll_seconds": 0.5,
        }
    )
    clock = MovableClock(dt.datetime(2026, 12, 2, 2, 59, 30, tzinfo=dt.UTC))
    driver = SlackDriver(slack[0].url)
    with EtcdopsProcess(settings, clock=clock) as bot:
        assert bot.wiring is not None
        made = driver.slash("alice", CHANNEL, "/etcd", "schedule backup 0 3 * * * lab")
        answer = "\n".join(m.text for m in made.ephemeral + made.in_channel)
        found = re.search(r"schedule `(s-[a-z0-9]+)`", answer)
        assert found, answer
        schedule_id = found.group(1)
        assert "Wed 2026-12-02 03:00 UTC" in answer

        bad = driver.slash("alice", CHANNEL, "/etcd", "schedule backup 0 25 * * * lab")
        assert "not a valid schedule" in bad.ephemeral[0].text

        first_slot = dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.UTC)
        clock.move_to(first_slot + dt.timedelta(seconds=1))
        bot.wiring.schedules.wake()
        first = scheduled_run(settings, schedule_id, first_slot)
        message = finished_run_message(driver, first, timeout=180)
        assert "succeeded" in message.text.split("\n")[0], message.text
        assert f"requested by schedule `{schedule_id}`" in message.text

        with session_of(settings) as session:
            (entry,) = backups.list_backups("lab", session=session)
        objects = {o["Key"]: o for o in s3.client().list_objects_v2(Bucket=bucket)["Contents"]}
        snapshot_key = f"etcd/lab/{first}/{entry.snapshot_name}"
        resources_key = f"etcd/static-resources/lab/{first}/{entry.resources_name}"
        assert set(objects) == {snapshot_key, resources_key}, objects
        assert objects[snapshot_key]["Size"] == entry.snapshot_size
        head = s3.client().head_object(Bucket=bucket, Key=snapshot_key)
        assert head["ServerSideEncryption"] == "AES256"
        assert entry.location == f"s3://{bucket}/etcd/lab/{first}"
        assert entry.resources_location == f"s3://{bucket}/etcd/static-resources/lab/{first}"

        # The next day's firing: a second backup, after which retention (keep the last 1) prunes the first.
        second_slot = first_slot + dt.timedelta(days=1)
        clock.move_to(second_slot + dt.timedelta(seconds=1))
        bot.wiring.schedules.wake()
        second = scheduled_run(settings, schedule_id, second_slot)
        assert "succeeded" in finished_run_message(driver, second, timeout=180).text.split("\n")[0]

        def pruned() -> str | None:
            with session_of(settings) as session:
                done = [
                    r
                    for r in runs.list_runs(session=session, cluster="lab")
                    if r.procedure == "prune" and r.status == "succeeded"
                ]
                return done[0].id if len(done) == 2 else None  # newest first

        prune_run = wait_for("the second retention run", pruned, timeout=60, interval=0.5)
        assert "pruned 1 backup(s): #1 (beyond the last 1)" in finished_run_message(driver, prune_run).text
        with session_of(settings) as session:
            kept = backups.list_backups("lab", session=session)
            gone = backups.get_backup(entry.id or 0, session=session)
        assert [b.run_id for b in kept] == [second]
        assert gone.pruned_at is not None
        keys = {o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket)["Contents"]}
        assert not any(first in key for key in keys), keys
        assert any(second in key for key in keys)

        # Verification, typed: the kept backup restores in a scratch etcd with the catalog's revision, keys.
        (kept_entry,) = kept
        number = kept_entry.id
        checked = driver.slash("alice", CHANNEL, "/etcd", f"verify #{number}")
        verify_run = re.search(r"run `(r-[a-z0-9]+)`", checked.ephemeral[0].text)
        assert verify_run, checked
        verified = finished_run_message(driver, verify_run.group(1), timeout=120)
        assert "succeeded" in verified.text.split("\n")[0], verified.text
        assert f"backup #{number} is restorable" in verified.text
        assert "scratch etcd" in verified.text
        listing = driver.slash("alice", CHANNEL, "/etcd", "backups lab").ephemeral[0].text
        assert f"*#{number}*" in listing and ":white_check_mark: verified" in listing
        assert f"s3://{bucket}/etcd/lab/{second}" in listing

        # ...and scheduled: the daily check verifies the newest backup at its time.
        made = driver.slash("alice", CHANNEL, "/etcd", "schedule verify 0 4 * * * lab")
        check_id = re.search(r"schedule `(s-[a-z0-9]+)`", "\n".join(m.text for m in made.in_channel))
        assert check_id, made
        check_slot = second_slot + dt.timedelta(hours=1)
        clock.move_to(check_slot + dt.timedelta(seconds=1))
        bot.wiring.schedules.wake()
        check = finished_run_message(
            driver, scheduled_run(settings, check_id.group(1), check_slot), timeout=120
        )
        assert "succeeded" in check.text.split("\n")[0] and f"backup #{number} is restorable" in check.text

        # A restore can use the off-site backup: its preflight fetches both files back and checks them
        # (a dry run stops after the plan; quorum is not lost here, hence --override-quorum).
        planned = driver.slash("alice", CHANNEL, "/etcd", f"restore #{number} --dry-run --override-quorum")
        dry = finished_run_message(driver, run_id_of(planned), timeout=120)
        assert "succeeded" in dry.text.split("\n")[0] and "nothing was done" in dry.text, dry.text

        # The off-site copy is damaged afterwards (one byte): the next verification says so.
        damaged_key = f"etcd/lab/{second}/{kept_entry.snapshot_name}"
        body = bytearray(s3.client().get_object(Bucket=bucket, Key=damaged_key)["Body"].read())
        body[len(body) // 2] ^= 0xFF
        s3.client().put_object(Bucket=bucket, Key=damaged_key, Body=bytes(body))
        again = driver.slash("alice", CHANNEL, "/etcd", f"verify #{number}")
        again_run = re.search(r"run `(r-[a-z0-9]+)`", again.ephemeral[0].text)
        assert again_run, again
        caught = finished_run_message(driver, again_run.group(1), timeout=120)
        assert "failed" in caught.text.split("\n")[0], caught.text
        assert "SHA-256" in caught.text
        listing = driver.slash("alice", CHANNEL, "/etcd", "backups lab").ephemeral[0].text
        assert ":x: failed:" in listing
        with session_of(settings) as session:
            assert backups.latest_verified_backup("lab", session=session) is None
        refused = driver.slash("alice", CHANNEL, "/etcd", f"restore #{number} --dry-run --override-quorum")
        stopped = finished_run_message(driver, run_id_of(refused), timeout=120)
        assert "failed" in stopped.text.split("\n")[0] and "corrupted" in stopped.text, stopped.text
