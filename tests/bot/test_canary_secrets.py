"""No secret reaches the logs, Slack or the timeline: ``etcdops serve`` runs with canary credentials.

The bot token, the app token, the signing secret, the SSH private key (a PEM file) and the kubeconfig's
bearer token each carry a unique canary string. The real ``etcdops serve`` (Socket Mode, then HTTP mode)
is driven through commands that fail and log — a status check and a backup against an API that does not
answer, a diagnosis, a request with a forged signature — and then the process's stderr (its JSON log),
every channel's transcript as everyone sees it, the timeline (every event's summary and details) and the
database file itself are searched for every canary.

So that a pass means something, the test also checks that the canaries are really in what the bot was
given, that the places searched really hold what the bot did (its log lines for these runs, its answers
in the channel, their events), and that the log formatter removes each canary from a log line that
carries it.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from bot.logs import JsonFormatter
from lab.slack import LocalSlackThread, SlackConfig, SlackDriver
from lab.slack.config import ChannelSpec
from lab.unreachable import CHANNEL, DEAD_API, write_clusters_file
from storage.db import make_engine, make_session_factory
from storage.models import Run, TimelineEvent
from storage.redact import redact
from tests.ports import free_port

REPO = Path(__file__).resolve().parents[2]
FINISHED = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class Canaries:
    bot_token: str
    app_token: str
    signing_secret: str
    ssh_key: str  # inside the PEM body of the SSH key file
    kube_token: str  # the kubeconfig user's bearer token

    @classmethod
    def new(cls) -> Canaries:
        tag = uuid.uuid4().hex[:12]
        return cls(
            bot_token=f"xoxb-1111-2222-canarybot{tag}",
            app_token=f"xapp-1-A0LAB-3333-canaryapp{tag}",
            signing_secret=f"canarysigning{tag}0123456789",
            ssh_key=f"CANARYSSHKEY{tag}",
            kube_token=f"canarykubetoken{tag}",
        )

    def all(self) -> dict[str, str]:
        return {
            "bot token": self.bot_token,
            "app token": self.app_token,
            "signing secret": self.signing_secret,
            "SSH key": self.ssh_key,
            "kubeconfig token": self.kube_token,
        }


def _pem(marker: str) -> str:
    body = base64.b64encode(b"openssh-key-v1\0" + marker.encode() + b"\0" * 40).decode()
    lines = [body[i : i + 70] for i in range(0, len(body), 70)]
    # The marker in clear too, as a line of the body: a leak of the file's text shows it verbatim.
    return "\n".join(
        ["-----BEGIN OPENSSH PRIVATE KEY-----", *lines, marker, "-----END OPENSSH PRIVATE KEY-----"]
    )


def write_inputs(folder: Path, canaries: Canaries) -> Path:
    """The unreachable clusters' file, with a kubeconfig and an SSH key carrying the canaries."""
    clusters = write_clusters_file(folder)
    (folder / "kubeconfig").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "dead", "cluster": {"server": DEAD_API, "insecure-skip-tls-verify": True}}
                ],
                "users": [{"name": "admin", "user": {"token": canaries.kube_token}}],
                "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "admin"}}],
                "current-context": "dead",
            }
        )
    )
    key = folder / "id_ed25519"
    key.write_text(_pem(canaries.ssh_key) + "\n")
    key.chmod(0o600)
    (folder / "known_hosts").write_text("")
    return clusters


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@pytest.fixture
def canary_slack() -> Iterator[tuple[LocalSlackThread, SlackConfig, Canaries]]:
    canaries = Canaries.new()
    config = SlackConfig(
        bot_token=canaries.bot_token,
        app_token=canaries.app_token,
        signing_secret=canaries.signing_secret,
        channels=(ChannelSpec("C0ETCDLAB", "etcd-lab"), ChannelSpec("C0PROD", "prod")),
    )
    with LocalSlackThread(config) as slack:
        yield slack, config, canaries


def _serve(
    folder: Path, slack: LocalSlackThread, canaries: Canaries, http_port: int | None
) -> subprocess.Popen[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ETCDOPS_", "DATABASE_"))}
    env = {
        **clean,
        "PYTHONPATH": str(REPO),
        "SLACK_BOT_TOKEN": canaries.bot_token,
        "SLACK_APP_TOKEN": canaries.app_token,
        "SLACK_SIGNING_SECRET": canaries.signing_secret,
        "SLACK_API_URL": f"{slack.url}/api/",
        "DATABASE_URL": f"sqlite:///{folder / 'etcdops.db'}",
        "ETCDOPS_CLUSTERS": str(folder / "clusters.yaml"),
        "ETCDOPS_WORKER": "canary-worker",
        "ETCDOPS_OPS_PORT": str(free_port()),
        "ETCDOPS_OPS_HOST": "127.0.0.1",
    }
    http = ["--http", "--port", str(http_port), "--host", "127.0.0.1"] if http_port else []
    (folder / "ops_port").write_text(env["ETCDOPS_OPS_PORT"])
    with (folder / "stderr.log").open("wb") as stderr:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", *http],
            cwd=folder,  # no .env of the repository is read
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def _wait_finished(database_url: str, count: int, timeout: float = 90.0) -> list[Run]:
    engine = make_engine(database_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            with make_session_factory(engine)() as session:
                found = list(session.exec(select(Run)).all())
            if len(found) >= count and all(r.status in FINISHED for r in found):
                return found
            assert time.monotonic() < deadline, [(r.procedure, r.status) for r in found]
            time.sleep(0.2)
    finally:
        engine.dispose()


def _timeline(database_url: str) -> list[str]:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            events = session.exec(select(TimelineEvent)).all()
            return [f"{e.kind} {e.summary} {json.dumps(e.details, default=str)}" for e in events]
    finally:
        engine.dispose()


@pytest.mark.parametrize("mode", ["socket", "http"])
def test_no_canary_reaches_the_logs_slack_or_the_timeline(
    canary_slack: tuple[LocalSlackThread, SlackConfig, Canaries], tmp_path: Path, mode: str
) -> None:
    slack, config, canaries = canary_slack
    write_inputs(tmp_path, canaries)
    # The canaries are really in what the bot is given.
    assert canaries.kube_token in (tmp_path / "kubeconfig").read_text()
    assert canaries.ssh_key in (tmp_path / "id_ed25519").read_text()

    driver = SlackDriver(slack.url)
    http_port = free_port() if mode == "http" else None
    if http_port:
        driver.set_request_url(f"http://127.0.0.1:{http_port}/slack/events")
    proc = _serve(tmp_path, slack, canaries, http_port)
    ops = f"http://127.0.0.1:{(tmp_path / 'ops_port').read_text()}"
    try:
        deadline = time.monotonic() + 60
        while _get(f"{ops}/readyz") != 200:
            assert proc.poll() is None, (tmp_path / "stderr.log").read_text()
            assert time.monotonic() < deadline, "etcdops serve never became ready"
            time.sleep(0.1)
        driver.slash("alice", CHANNEL, "/etcd", "status")
        driver.slash("alice", CHANNEL, "/etcd", "backup")
        driver.slash("bob", CHANNEL, "/etcd", "diagnose")
        driver.slash("alice", "#prod", "/etcd", "status")
        if mode == "http":
            forged = driver.slash("mallory", CHANNEL, "/etcd", "status", bad_signature=True)
            assert not forged.acked
        runs = _wait_finished(f"sqlite:///{tmp_path / 'etcdops.db'}", 4)
        assert _get(f"{ops}/metrics") == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    log = (tmp_path / "stderr.log").read_text()
    transcripts = {
        channel.name: json.dumps([m.to_json() for m in driver.transcript(channel.id, as_user="*")])
        for channel in config.channels
    }
    timeline = "\n".join(_timeline(f"sqlite:///{tmp_path / 'etcdops.db'}"))
    database = b"".join(p.read_bytes() for p in tmp_path.glob("etcdops.db*"))

    # The places searched hold what the bot did: JSON log lines naming the runs, answers, events.
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    failed = [r for r in runs if r.status == "failed"]
    assert {r.procedure for r in runs} >= {"status", "backup", "diagnose"} and failed
    for run in failed:
        assert any(line.get("run_id") == run.id and line.get("cluster") == run.cluster for line in lines), (
            run.id
        )
    assert "the Kubernetes API is unreachable" in transcripts["etcd-lab"] and transcripts["prod"] != "[]"
    assert all(run.id in timeline for run in runs)

    for what, canary in canaries.all().items():
        assert canary not in log, f"the {what} is in the log"
        for channel, text in transcripts.items():
            assert canary not in text, f"the {what} is in #{channel}"
        assert canary not in timeline, f"the {what} is on the timeline"
        assert canary.encode() not in database, f"the {what} is in the database"


def test_the_formatter_would_have_caught_each_canary() -> None:
    """The other half of the canary test: a line that does carry a canary comes out without it."""
    canaries = Canaries.new()
    formatter = JsonFormatter([canaries.bot_token, canaries.app_token, canaries.signing_secret])
    kubeconfig = yaml.safe_dump({"users": [{"name": "admin", "user": {"token": canaries.kube_token}}]})
    carried = {
        "bot token": f"Slack said invalid_auth for {canaries.bot_token}",
        "app token": f"apps.connections.open with {canaries.app_token} failed",
        "signing secret": f"signature computed with {canaries.signing_secret}",
        "SSH key": f"could not load the key:\n{_pem(canaries.ssh_key)}",
        "kubeconfig token": f"kubeconfig:\n{kubeconfig}",
    }
    for what, canary in canaries.all().items():
        assert canary in carried[what]
        record = logging.LogRecord("bot", logging.ERROR, __file__, 1, carried[what], None, None)
        assert canary not in formatter.format(record), what
        if what != "signing secret":  # no pattern knows it: the formatter removes it by its value
            assert canary not in redact(carried[what]), what
