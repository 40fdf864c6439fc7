"""The container image against the lab: `etcdops serve` inside podman (``--network=host``, a non-root
UID, a read-only root filesystem as on OpenShift) answers `/etcd status` through the local Slack.

The image is built by ``scripts/build-image.sh`` (a local debootstrap base and a wheelhouse, offline),
started by the lab conftest beside a lab test in the second half of the folder (once the suite's other
tests are done with the disk), so the build overlaps the remaining lab tests; this test runs late.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from lab.slack import LocalSlackThread, SlackConfig, SlackDriver
from tests.lab.botkit import CHANNEL, status_report
from tests.lab.conftest import built_image
from tests.lab.helpers import Lab

UID = 10001
# What podman needs on these machines: rlimits within the sandbox's, and runc (crun fails here).
RUN_FLAGS = ("--runtime", "runc", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768")


def container_config(lab: Lab, folder: Path) -> Path:
    """What the container's user may read: copies of the bot's kubeconfig, SSH key and known_hosts
    (the lab's are root's, mode 0600), and a clusters file naming them."""
    folder.mkdir(mode=0o700)
    profile = yaml.safe_load((lab.root / "cluster.yaml").read_text())
    entry = profile["clusters"][0]
    for key, source in (
        ("kubeconfig", Path(entry["kubeconfig"])),
        ("key", Path(entry["ssh"]["key"])),
        ("known_hosts", Path(entry["ssh"]["known_hosts"])),
    ):
        copy = folder / source.name
        shutil.copyfile(source, copy)
        if key == "kubeconfig":
            entry["kubeconfig"] = str(copy)
        else:
            entry["ssh"][key] = str(copy)
    entry["backup_store"] = {"type": "local", "path": str(folder / "backups")}
    path = folder / "clusters.yaml"
    path.write_text(yaml.safe_dump(profile))
    for item in [folder, *folder.iterdir()]:
        os.chown(item, UID, 0)
        item.chmod(0o700 if item.is_dir() else 0o600)
    return path


def test_the_image_answers_status_from_inside_podman(
    request: pytest.FixtureRequest, lab: Lab, slack: tuple[LocalSlackThread, SlackConfig], tmp_path: Path
) -> None:
    image = built_image(request.config)
    server, config = slack
    folder = tmp_path / "etcdops"
    clusters = container_config(lab, folder)
    name = f"etcdops-test-{os.getpid()}"
    env = {
        "SLACK_BOT_TOKEN": config.bot_token,
        "SLACK_APP_TOKEN": config.app_token,
        "SLACK_API_URL": f"{server.url}/api/",
        "DATABASE_URL": f"sqlite:///{folder / 'etcdops.db'}",
        "ETCDOPS_CLUSTERS": str(clusters),
        "ETCDOPS_WORKER": name,
        "ETCDOPS_OPS_PORT": "0",
    }
    argv = ["podman", "run", "-d", "--rm", "--name", name, "--network=host", "--user", f"{UID}:0"]
    argv += [*RUN_FLAGS, "--read-only", "--tmpfs", "/tmp", "-v", f"{folder}:{folder}"]
    for key, value in env.items():
        argv += ["-e", f"{key}={value}"]
    started = subprocess.run([*argv, image, "serve"], capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    driver = SlackDriver(server.url)
    try:
        deadline = time.monotonic() + 90
        while not driver.connections():
            inspect = ["podman", "inspect", "-f", "{{.State.Running}}", name]
            running = subprocess.run(inspect, capture_output=True, text=True, timeout=30)
            assert running.stdout.strip() == "true", _logs(name)
            assert time.monotonic() < deadline, f"not connected over Socket Mode:\n{_logs(name)}"
            time.sleep(0.5)
        before = driver.transcript(CHANNEL)
        result = driver.slash("alice", CHANNEL, "/etcd", "status")
        assert result.acked and result.ack_latency_ms is not None and result.ack_latency_ms < 3000
        report = status_report(driver, before[-1].ts if before else "0", timeout=60)
        assert "*lab*" in report.text, report.text  # the members table: the API answered the container
        whoami = subprocess.run(["podman", "exec", name, "id", "-u"], capture_output=True, text=True)
        assert whoami.stdout.strip() == str(UID)
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "5", name], capture_output=True, timeout=60)


def _logs(name: str) -> str:
    return subprocess.run(["podman", "logs", name], capture_output=True, text=True, timeout=30).stdout[-3000:]
