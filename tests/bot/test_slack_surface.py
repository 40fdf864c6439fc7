"""The bot's Slack surface through the local Slack, as real users: help, usage errors, unknown clusters,
channel defaults, the backup catalog, cancelling, a status run against an API that does not answer, and
signature checks in HTTP mode. The whole bot process runs (Bolt app, runner threads, relay)."""

from __future__ import annotations

import time

import pytest

from bot.app import MissingSetting
from bot.blocks import CANCEL_ACTION
from bot.process import EtcdopsProcess
from bot.settings import Settings
from lab.slack import CommandResult, LocalSlackThread, Message, SlackConfig, SlackDriver
from storage import runs
from storage.db import make_engine, make_session_factory
from tests.bot.conftest import CHANNEL, bot_settings


def _ephemeral(result: CommandResult) -> list[str]:
    return [m.text for m in result.ephemeral]


def _run_message(run_id: str):  # type: ignore[no-untyped-def]
    def find(messages: list[Message]) -> Message | None:
        return next((m for m in messages if f"run `{run_id}`" in m.text and m.user == "U0BOT"), None)

    return find


def test_help_over_socket_mode_is_ephemeral_and_fast(socket_bot: SlackDriver) -> None:
    result = socket_bot.slash("alice", CHANNEL, "/etcd", "help")
    assert result.acked and result.mode == "socket"
    assert result.ack_latency_ms is not None and result.ack_latency_ms < 3000
    text = _ephemeral(result)[0]
    assert "/etcd status [CLUSTER]" in text and "/etcd backup [CLUSTER] [--host NODE]" in text
    assert all(m.ephemeral_to == "U0ALICE" for m in result.replies)
    assert not [m for m in socket_bot.transcript(CHANNEL, as_user="bob") if "etcdops commands" in m.text]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("reboot", "`reboot` is not an etcdops command"),
        ("status A_B", "not a cluster name"),
        ("cancel 42", "not a run ID"),
        ("backup --host", "Usage: `/etcd backup [CLUSTER] [--host NODE]`"),
        ("status nope", "there is no cluster `nope`; the clusters are `lab`, `prod-east`"),
        ("backup nope --host 127.0.0.11", "there is no cluster `nope`"),
        ("cancel r-zzzzz", "there is no run `r-zzzzz`"),
    ],
)
def test_mistakes_get_an_ephemeral_answer_and_start_nothing(
    socket_bot: SlackDriver, text: str, words: str
) -> None:
    before = len(socket_bot.transcript(CHANNEL, as_user="*"))
    result = socket_bot.slash("carol", CHANNEL, "/etcd", text)
    assert result.acked
    replies = _ephemeral(result)
    assert replies and words in replies[0]
    assert all(m.ephemeral_to == "U0CAROL" for m in result.replies)
    time.sleep(0.5)  # a run would have been posted by the relay by now
    assert len(socket_bot.transcript(CHANNEL, as_user="*")) == before + 1


def test_a_channel_without_a_default_is_asked_to_name_the_cluster(socket_bot: SlackDriver) -> None:
    result = socket_bot.slash("alice", "#random", "/etcd", "backups")
    assert "this channel has no default cluster: name one (`lab`, `prod-east`)" in _ephemeral(result)[0]
    chosen = socket_bot.slash("alice", "#random", "/etcd", "use prod-east")
    assert "made *prod-east* this channel's default cluster" in chosen.in_channel[0].text
    listed = socket_bot.slash("alice", "#random", "/etcd", "backups")
    assert "No backups of *prod-east* yet" in _ephemeral(listed)[0]


def test_status_says_plainly_when_the_api_is_unreachable(socket_bot: SlackDriver) -> None:
    started = time.monotonic()
    result = socket_bot.slash("alice", CHANNEL, "/etcd", "status")
    assert result.ack_latency_ms is not None and result.ack_latency_ms < 3000
    (ack,) = _ephemeral(result)
    assert "Checking etcd on *lab*" in ack
    report = socket_bot.wait_for(
        CHANNEL,
        lambda ms: next((m for m in ms if "the Kubernetes API is unreachable" in m.text), None),
        timeout=20,
    )
    assert "*lab*" in report.text and "/etcd restore" in report.text
    assert report.ephemeral_to is None and time.monotonic() - started < 20


def test_cancel_button_stops_a_run_and_the_message_says_so(socket_bot: SlackDriver) -> None:
    result = socket_bot.slash("alice", CHANNEL, "/etcd", "backup prod-east")
    run_id = _ephemeral(result)[0].split("(run `")[1].split("`")[0]
    message = socket_bot.wait_for(CHANNEL, _run_message(run_id), timeout=5)
    clicked = socket_bot.click("bob", message.ts, CANCEL_ACTION, run_id, channel=CHANNEL)
    assert clicked.acked
    final = socket_bot.wait_for(
        CHANNEL, lambda ms: (m := _run_message(run_id)(ms)) is not None and "cancelled" in m.text and m, 10
    )
    assert "Cancel" not in str(final.blocks), "a finished run offers no Cancel button"
    again = socket_bot.slash("carol", CHANNEL, "/etcd", f"cancel {run_id}")
    assert f"Run `{run_id}` has already finished (cancelled)" in _ephemeral(again)[0]


def test_a_second_backup_of_the_same_cluster_is_refused_while_one_runs(socket_bot: SlackDriver) -> None:
    first = socket_bot.slash("alice", CHANNEL, "/etcd", "backup prod-east")
    run_id = _ephemeral(first)[0].split("(run `")[1].split("`")[0]
    second = socket_bot.slash("bob", CHANNEL, "/etcd", "backup prod-east")
    assert f"already in progress (run `{run_id}`" in _ephemeral(second)[0]
    socket_bot.slash("alice", CHANNEL, "/etcd", f"cancel {run_id}")


def test_http_mode_checks_signatures(
    local_slack: tuple[LocalSlackThread, SlackConfig], tmp_path_factory: pytest.TempPathFactory
) -> None:
    slack, config = local_slack
    driver = SlackDriver(slack.url)
    settings = bot_settings(slack, config, tmp_path_factory.mktemp("http"))
    with EtcdopsProcess(settings, http_port=0) as bot:
        assert bot.url is not None
        driver.set_request_url(bot.url)
        try:
            good = driver.slash("bob", CHANNEL, "/etcd", "help")
            assert good.mode == "http" and good.http_status == 200
            assert "etcdops commands" in _ephemeral(good)[0]
            forged = driver.slash("bob", CHANNEL, "/etcd", "backup lab", bad_signature=True)
            assert forged.http_status == 401 and forged.error == "http_401"
            stale = driver.slash("bob", CHANNEL, "/etcd", "backup lab", timestamp_skew=-301)
            assert stale.http_status == 401
            assert not [m for m in driver.transcript(CHANNEL, as_user="*") if "Backup of *lab*" in m.text]
        finally:
            driver.set_request_url(None)


def test_http_mode_refuses_to_start_without_a_signing_secret(settings: Settings) -> None:
    with pytest.raises(MissingSetting, match="SLACK_SIGNING_SECRET"):
        EtcdopsProcess(settings.model_copy(update={"slack_signing_secret": None}), http_port=0).start()


def test_a_run_started_outside_slack_is_shown_in_its_clusters_channel(
    socket_bot: SlackDriver, settings: Settings
) -> None:
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            run_id = runs.create_run(
                session=session, procedure="backup", cluster="lab", requested_by="cli"
            ).id
        message = socket_bot.wait_for(CHANNEL, _run_message(run_id), timeout=5)
        final = socket_bot.wait_for(
            CHANNEL, lambda ms: (m := _run_message(run_id)(ms)) is not None and "failed" in m.text and m, 15
        )
        assert final.ts == message.ts, "the message posted by channel name is edited, not posted again"
        assert "Preflight" in final.text and "Connection refused" in final.text
        with make_session_factory(engine)() as session:
            assert runs.get_run(run_id, session=session).channel == "C0ETCDLAB"
    finally:
        engine.dispose()


def test_diagnose_says_plainly_when_the_api_is_unreachable(socket_bot: SlackDriver) -> None:
    result = socket_bot.slash("bob", CHANNEL, "/etcd", "diagnose")
    (ack,) = _ephemeral(result)
    assert "Diagnosing etcd on *lab*" in ack
    marker = "diagnosis: *API unreachable*"
    report = socket_bot.wait_for(
        CHANNEL, lambda ms: next((m for m in ms if marker in m.text), None), timeout=20
    )
    assert "`/etcd restore`" in report.text and report.ephemeral_to is None
