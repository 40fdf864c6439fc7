"""Fixtures: a local Slack per test on an ephemeral 127.0.0.1 port, its driver, and a real Bolt app.

The Bolt app is built by a factory (no module-level App) and reaches the local Slack only through
the real slack_sdk WebClient and Socket Mode client, or over signed HTTP.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from slack_bolt import Ack, App, Respond, Say
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient

from bot.http_server import BoltHttpServer
from lab.slack import LocalSlackThread, SlackConfig, SlackDriver

APPROVE_BLOCKS: list[dict[str, Any]] = [
    {"type": "section", "block_id": "summary", "text": {"type": "mrkdwn", "text": "Backup requested"}},
    {
        "type": "actions",
        "block_id": "decide",
        "elements": [
            {
                "type": "button",
                "action_id": "approve",
                "value": "run-1",
                "text": {"type": "plain_text", "text": "Approve"},
            },
            {
                "type": "button",
                "action_id": "reject",
                "value": "run-1",
                "text": {"type": "plain_text", "text": "Reject"},
            },
        ],
    },
]


@dataclass
class BotLog:
    """What the Bolt listeners saw, so tests can check the app side as well as Slack's side."""

    commands: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def build_bolt_app(slack_url: str, config: SlackConfig, log: BotLog) -> App:
    """A small etcdops-like Bolt app: ``/etcd`` subcommands and an approve button."""
    client = WebClient(token=config.bot_token, base_url=slack_url + "/api/")
    app = App(client=client, signing_secret=config.signing_secret)

    @app.command("/etcd")
    def etcd(ack: Ack, body: dict[str, Any], say: Say, respond: Respond, client: WebClient) -> None:
        with log.lock:
            log.commands.append(body)
        words = body.get("text", "").split()
        verb = words[0] if words else "help"
        if verb == "ackmsg":
            ack(text="Got it, checking…")
            return
        if verb == "public-ack":
            ack(text="Everyone sees this", response_type="in_channel")
            return
        ack()
        if verb == "status":
            say("etcd: 3/3 members healthy")
        elif verb == "backup":
            tag = " ".join(words[1:])
            channel = body["channel_id"]
            posted = client.chat_postMessage(
                channel=channel, text=f"Backup requested {tag}", blocks=APPROVE_BLOCKS
            )
            ts = posted["ts"]
            client.chat_update(
                channel=channel, ts=ts, text=f"Backup waiting for approval {tag}", blocks=APPROVE_BLOCKS
            )
            client.chat_postMessage(channel=channel, thread_ts=ts, text=f"step 1: plan recorded {tag}")
        elif verb == "secret":
            respond("only you can see this")
            client.chat_postEphemeral(
                channel=body["channel_id"], user=body["user_id"], text="ephemeral via API"
            )
        else:
            respond("usage: /etcd status|backup|secret")

    @app.action("approve")
    def approve(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        with log.lock:
            log.actions.append(body)
        user = body["user"]["id"]
        ts = body["message"]["ts"]
        client.chat_postMessage(channel=body["channel"]["id"], thread_ts=ts, text=f"approved by <@{user}>")
        respond(replace_original=True, text=f"Backup approved by <@{user}>")

    return app


@pytest.fixture
def slack_config() -> SlackConfig:
    return SlackConfig()


@pytest.fixture
def slack(slack_config: SlackConfig) -> Iterator[LocalSlackThread]:
    with LocalSlackThread(slack_config) as running:
        yield running


@pytest.fixture
def driver(slack: LocalSlackThread) -> SlackDriver:
    return SlackDriver(slack.url)


@pytest.fixture
def bot_log() -> BotLog:
    return BotLog()


@contextlib.contextmanager
def socket_mode_bot(app: App, app_token: str) -> Iterator[SocketModeHandler]:
    """Connect ``app`` with slack_sdk's builtin Socket Mode client; closing takes it ≈3 s (slack_sdk's
    worker threads poll with 1 s timeouts), which is why Socket Mode tests share one connection per module."""
    handler = SocketModeHandler(app, app_token)
    handler.connect()
    try:
        yield handler
    finally:
        handler.close()


@pytest.fixture
def http_bot(
    slack: LocalSlackThread, slack_config: SlackConfig, bot_log: BotLog, driver: SlackDriver
) -> Iterator[BoltHttpServer]:
    """The same Bolt app served over HTTP, with the local Slack switched to signed HTTP delivery."""
    app = build_bolt_app(slack.url, slack_config, bot_log)
    with BoltHttpServer(app) as server:
        driver.set_request_url(server.url)
        yield server
