"""The bot's Slack surface through the local Slack: help and usage errors over Socket Mode and signed HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.app import BotDeps, MissingSetting, build_app
from bot.http_server import BoltHttpServer
from bot.settings import Settings
from lab.slack import LocalSlackThread, SlackConfig, SlackDriver

CHANNEL = "#etcd-lab"


def _settings(slack: LocalSlackThread, config: SlackConfig) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=SecretStr(config.bot_token),
        slack_app_token=SecretStr(config.app_token),
        slack_signing_secret=SecretStr(config.signing_secret),
        slack_api_url=f"{slack.url}/api/",
    )


@pytest.fixture(scope="module")
def local_slack() -> Iterator[tuple[LocalSlackThread, SlackConfig]]:
    config = SlackConfig()
    with LocalSlackThread(config) as slack:
        yield slack, config


@pytest.fixture(scope="module")
def socket_bot(local_slack: tuple[LocalSlackThread, SlackConfig]) -> Iterator[SlackDriver]:
    slack, config = local_slack
    handler = SocketModeHandler(build_app(BotDeps(_settings(slack, config))), config.app_token)
    handler.connect()  # type: ignore[no-untyped-call]
    try:
        yield SlackDriver(slack.url)
    finally:
        handler.close()  # type: ignore[no-untyped-call]


def _ephemeral(result: object) -> list[str]:
    return [m.text for m in result.ephemeral]  # type: ignore[attr-defined]


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
    ],
)
def test_mistakes_get_an_ephemeral_usage(socket_bot: SlackDriver, text: str, words: str) -> None:
    result = socket_bot.slash("carol", CHANNEL, "/etcd", text)
    assert result.acked
    replies = _ephemeral(result)
    assert replies and words in replies[0]
    assert all(m.ephemeral_to == "U0CAROL" for m in result.replies)


def test_http_mode_checks_signatures(local_slack: tuple[LocalSlackThread, SlackConfig]) -> None:
    slack, config = local_slack
    driver = SlackDriver(slack.url)
    app = build_app(BotDeps(_settings(slack, config)), http=True)
    with BoltHttpServer(app) as server:
        driver.set_request_url(server.url)
        try:
            good = driver.slash("bob", CHANNEL, "/etcd", "help")
            assert (
                good.mode == "http" and good.http_status == 200 and "etcdops commands" in _ephemeral(good)[0]
            )
            forged = driver.slash("bob", CHANNEL, "/etcd", "help", bad_signature=True)
            assert forged.http_status == 401 and forged.error == "http_401"
            stale = driver.slash("bob", CHANNEL, "/etcd", "help", timestamp_skew=-301)
            assert stale.http_status == 401
        finally:
            driver.set_request_url(None)


def test_http_mode_refuses_to_start_without_a_signing_secret(
    local_slack: tuple[LocalSlackThread, SlackConfig],
) -> None:
    slack, config = local_slack
    settings = _settings(slack, config).model_copy(update={"slack_signing_secret": None})
    with pytest.raises(MissingSetting, match="SLACK_SIGNING_SECRET"):
        build_app(BotDeps(settings), http=True)
