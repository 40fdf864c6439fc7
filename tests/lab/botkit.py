"""The bot against the lab, through the local Slack: settings for it, the bot as a real ``etcdops
serve`` process (so it can be killed), and readers for what the channel shows."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlmodel import Session

from bot.blocks import APPROVE_ACTION
from bot.demo import local_slack_settings
from bot.settings import Settings
from lab.slack import CommandResult, LocalSlackThread, Message, SlackConfig, SlackDriver
from lab.slack.driver import LabSlackError
from storage import journal, runs, timeline
from storage.db import make_engine, make_session_factory
from tests.lab.helpers import REPO, Lab

CHANNEL = "#etcd-lab"
WORKER = "lab-test-worker"


class MovableClock:
    """The bot's clock (schedules, the health watch): real time shifted by what the test moved it, so a
    schedule's slot arrives without sleeping for it. Thread-safe."""

    def __init__(self, at: dt.datetime | None = None) -> None:
        self._offset = (at - dt.datetime.now(dt.UTC)) if at else dt.timedelta()
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            return dt.datetime.now(dt.UTC) + self._offset

    def move_to(self, at: dt.datetime) -> None:
        with self._lock:
            self._offset = at - dt.datetime.now(dt.UTC)

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        with self._lock:
            self._offset += delta
            return dt.datetime.now(dt.UTC) + self._offset


def lab_settings(lab: Lab, slack: LocalSlackThread, config: SlackConfig, folder: Path) -> Settings:
    return local_slack_settings(
        config,
        slack.url,
        database_url=f"sqlite:///{folder / 'etcdops.db'}",
        clusters=lab.root / "cluster.yaml",
        worker=WORKER,
    )


def serve_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment an operator would export for ``etcdops serve`` with these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ETCDOPS_", "DATABASE_"))}
    assert settings.slack_bot_token and settings.slack_app_token and settings.slack_signing_secret
    env.update(
        SLACK_BOT_TOKEN=settings.slack_bot_token.get_secret_value(),
        SLACK_APP_TOKEN=settings.slack_app_token.get_secret_value(),
        SLACK_SIGNING_SECRET=settings.slack_signing_secret.get_secret_value(),
        SLACK_API_URL=settings.slack_api_url,
        DATABASE_URL=settings.database_url,
        ETCDOPS_CLUSTERS=str(settings.etcdops_clusters),
        ETCDOPS_WORKER=settings.etcdops_worker or WORKER,
    )
    env.update(extra)
    return env


def start_serve(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", *args], cwd=REPO, env=env, stdout=out, stderr=out
        )


def wait_connected(driver: SlackDriver, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not driver.connections():
        assert process.poll() is None, "etcdops serve exited before connecting"
        assert time.monotonic() < deadline, "etcdops serve did not connect over Socket Mode"
        time.sleep(0.1)


def wait_http(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, "etcdops serve --http exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return f"http://127.0.0.1:{port}/slack/events"
        except OSError:
            assert time.monotonic() < deadline, "etcdops serve --http did not answer"
            time.sleep(0.1)


def run_id_of(result: CommandResult) -> str:
    """The run ID the ack names (``... (run `r-xxxxx`) ...``)."""
    text = next(m.text for m in result.ephemeral)
    return text.split("(run `")[1].split("`")[0]


def run_message(run_id: str) -> Callable[[list[Message]], Message | None]:
    def find(messages: list[Message]) -> Message | None:
        return next((m for m in messages if f"run `{run_id}`" in m.text and m.user == "U0BOT"), None)

    return find


def finished_run_message(driver: SlackDriver, run_id: str, timeout: float = 120) -> Message:
    """Wait until the run's message shows it finished; return that message."""

    def finished(messages: list[Message]) -> Message | None:
        found = run_message(run_id)(messages)
        if found and any(word in found.text.split("\n")[0] for word in ("succeeded", "failed", "cancelled")):
            return found
        return None

    message: Message = driver.wait_for(CHANNEL, finished, timeout=timeout, interval=0.2)
    return message


def bot_report(driver: SlackDriver, after_ts: str, marker: str, timeout: float = 30) -> Message:
    """The next message of the bot containing ``marker`` posted in the channel after ``after_ts``."""

    def report(messages: list[Message]) -> Message | None:
        newer = [m for m in messages if float(m.ts) > float(after_ts) and m.user == "U0BOT"]
        return next((m for m in newer if marker in m.text), None)

    message: Message = driver.wait_for(CHANNEL, report, timeout=timeout, interval=0.2)
    return message


def status_report(driver: SlackDriver, after_ts: str, timeout: float = 30) -> Message:
    """The next status report posted in the channel after ``after_ts``."""
    return bot_report(driver, after_ts, "*Members*", timeout)


def ask(driver: SlackDriver, user: str, text: str, marker: str, timeout: float = 30) -> Message:
    """Type ``/etcd text`` as ``user``; the bot's answer in the channel that contains ``marker``."""
    before = driver.transcript(CHANNEL)
    last = before[-1].ts if before else "0"
    result = driver.slash(user, CHANNEL, "/etcd", text)
    assert result.acked and result.ack_latency_ms is not None and result.ack_latency_ms < 3000
    return bot_report(driver, last, marker, timeout)


def approve_what_is_pending(driver: SlackDriver, run_id: str) -> int:
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


@contextlib.contextmanager
def session_of(settings: Settings) -> Iterator[Session]:
    """A session on the bot's database, for reading what a killed process left behind; its engine (and
    connection) is let go afterwards, so polling it leaves no connection open."""
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def run_status(settings: Settings, run_id: str) -> str:
    with session_of(settings) as session:
        return runs.get_run(run_id, session=session).status


def run_story(settings: Settings, run_id: str) -> str:
    """A run's journal and timeline as text: what a failing test prints to say where the run stood."""
    with session_of(settings) as session:
        steps = [
            f"step {s.seq} {s.step_id}: {s.status} (attempt {s.attempt}) {s.error or ''}".rstrip()
            for s in journal.steps_of(run_id, session=session)
        ]
        events = [
            f"{e.at:%H:%M:%S} {e.kind}: {e.summary}" for e in timeline.events_for_run(run_id, session=session)
        ]
    return "\n".join([f"run {run_id}:", *steps, *events[-15:]])


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a serve process that is still alive, and reap it."""
    if process.poll() is None:
        process.kill()
        process.wait()


def serve_until_finished(settings: Settings, run_id: str, log: Path, timeout: float) -> str:
    """A plain ``etcdops serve`` (no kill point) until the run has finished; its final status."""
    process = start_serve(serve_env(settings), log)
    try:
        deadline = time.monotonic() + timeout
        while run_status(settings, run_id) in ("running", "waiting_approval", "pending"):
            assert time.monotonic() < deadline, f"{run_id} not finished in {timeout:.0f} s"
            time.sleep(1)
        return run_status(settings, run_id)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
