"""The scaled-out shape without the lab: `etcdops serve` replicas that only answer Slack
(ETCDOPS_RUNNER_WORKERS=0) beside an `etcdops runner` that executes the runs, on one database; and two
serving replicas whose relays share a lease, so each run's message is posted once, not once per replica.
"""

from __future__ import annotations

import time
from pathlib import Path

from bot.process import EtcdopsProcess
from bot.runner_process import RunnerProcess
from bot.settings import Settings
from lab.slack import LocalSlackThread, Message, SlackConfig, SlackDriver
from storage import runs
from storage.db import make_engine, make_session_factory
from storage.timeline import events_since
from tests.bot.conftest import CHANNEL, bot_settings


def _run_id(text: str) -> str:
    return text.split("(run `")[1].split("`")[0]


def _run_messages(driver: SlackDriver, run_id: str) -> list[Message]:
    """The channel's messages about the run (its one message, edited as it goes; not thread replies)."""
    return [
        m
        for m in driver.transcript(CHANNEL)
        if m.user == "U0BOT" and f"run `{run_id}`" in m.text and not m.thread_ts
    ]


def _claimed_by(settings: Settings, run_id: str) -> str | None:
    """Who executed the run, once it has finished."""
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            run = runs.get_run(run_id, session=session)
            return run.claimed_by if run.finished_at is not None else None
    finally:
        engine.dispose()


def _timeline_size(settings: Settings) -> int:
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            return len(events_since(0, session=session))
    finally:
        engine.dispose()


def _settings(
    slack: LocalSlackThread, config: SlackConfig, folder: Path, worker: str, workers: int
) -> Settings:
    return bot_settings(slack, config, folder).model_copy(
        update={"etcdops_worker": worker, "etcdops_runner_workers": workers}
    )


def test_serve_without_workers_and_a_runner_process(tmp_path: Path) -> None:
    config = SlackConfig()
    with LocalSlackThread(config) as slack:
        serve = _settings(slack, config, tmp_path, "serve-1", 0)
        work = serve.model_copy(update={"etcdops_worker": "runner-1", "etcdops_runner_workers": 2})
        driver = SlackDriver(slack.url)
        with EtcdopsProcess(serve), RunnerProcess(work):
            asked = driver.slash("alice", CHANNEL, "/etcd", "backup lab")
            run_id = _run_id(asked.ephemeral[0].text)
            deadline = time.monotonic() + 60
            while _claimed_by(serve, run_id) is None:
                assert time.monotonic() < deadline, "the runner process did not execute the run"
                time.sleep(0.3)
            assert _claimed_by(serve, run_id) == "runner-1"
            driver.wait_for(CHANNEL, lambda ms: _run_messages(driver, run_id), timeout=30)


def test_two_serving_replicas_post_each_run_once(tmp_path: Path) -> None:
    config = SlackConfig()
    with LocalSlackThread(config) as slack:
        first = _settings(slack, config, tmp_path, "serve-a", 2)
        second = first.model_copy(update={"etcdops_worker": "serve-b"})
        driver = SlackDriver(slack.url)
        with EtcdopsProcess(first), EtcdopsProcess(second):
            asked = [
                driver.slash("alice", CHANNEL, "/etcd", f"backup {name}") for name in ("lab", "prod-east")
            ]
            ids = [_run_id(a.ephemeral[0].text) for a in asked]
            for run_id in ids:
                driver.wait_for(CHANNEL, lambda ms, r=run_id: _claimed_by(first, r), timeout=60)
                driver.wait_for(CHANNEL, lambda ms, r=run_id: _run_messages(driver, r), timeout=30)
            time.sleep(2)  # a second relay posting too would show by now
            for run_id in ids:
                (message,) = _run_messages(driver, run_id)
                replies = [m for m in driver.thread(CHANNEL, message.ts) if m.ts != message.ts]
                assert len(replies) == 1, replies  # its failed preflight's one reply, said once
            events = _timeline_size(first)
            said = [m for m in driver.transcript(CHANNEL) if m.user == "U0BOT"]
            assert events > 0 and len(said) == 2 * len(ids), [m.text[:80] for m in said]


def test_a_command_slack_delivers_twice_starts_one_run(tmp_path: Path) -> None:
    """Slack sends an envelope again, to another connection, when the first was not acknowledged in
    time (a slow or dying replica). Here the local Slack waits only 1 ms for an ack, so every command
    reaches both replicas; each records it, and the database keeps one run per command."""
    config = SlackConfig(ack_timeout=0.001, max_retries=3)
    with LocalSlackThread(config) as slack:
        first = _settings(slack, config, tmp_path, "serve-a", 0)
        second = first.model_copy(update={"etcdops_worker": "serve-b"})
        driver = SlackDriver(slack.url)
        with EtcdopsProcess(first), EtcdopsProcess(second):
            driver.wait_for(CHANNEL, lambda ms: len(driver.connections()) == 2, timeout=30)
            results = [driver.slash("alice", CHANNEL, "/etcd", "health lab", settle=1.0) for _ in range(3)]
        retried = [r for r in results if r.attempts > 1]
        assert retried, [r.attempts for r in results]  # the test means something only with retries
        engine = make_engine(first.database_url)
        try:
            with make_session_factory(engine)() as session:
                recorded = runs.list_runs(session=session, cluster="lab")
        finally:
            engine.dispose()
        triggers = [r.trigger_id for r in recorded]
        assert len(recorded) == len(results) and len(set(triggers)) == len(results) and None not in triggers
