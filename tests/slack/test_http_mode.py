"""The same Bolt app served over HTTP: Slack-signed delivery is accepted, tampered requests are not."""

from __future__ import annotations

import socket

from lab.slack import SlackDriver
from tests.slack.conftest import BoltHttpServer, BotLog

CHANNEL = "#etcd-lab"


def test_signed_command_is_accepted(http_bot: BoltHttpServer, driver: SlackDriver, bot_log: BotLog) -> None:
    result = driver.slash("carol", CHANNEL, "/etcd", "status")
    assert result.mode == "http" and result.http_status == 200 and result.acked
    assert result.ack_latency_ms is not None and result.ack_latency_ms < 1000
    driver.wait_for(CHANNEL, lambda ms: [m for m in ms if m.text == "etcd: 3/3 members healthy"])
    assert bot_log.commands[0]["user_id"] == "U0CAROL"


def test_immediate_response_body_becomes_ephemeral(http_bot: BoltHttpServer, driver: SlackDriver) -> None:
    result = driver.slash("carol", CHANNEL, "/etcd", "ackmsg", settle=0)
    assert result.ack_payload is not None and result.ack_payload["text"] == "Got it, checking…"
    assert [(m.text, m.ephemeral_to) for m in result.replies] == [("Got it, checking…", "U0CAROL")]


def test_signed_click_and_respond(http_bot: BoltHttpServer, driver: SlackDriver, bot_log: BotLog) -> None:
    driver.slash("alice", CHANNEL, "/etcd", "backup h1")
    parent = driver.wait_for(
        CHANNEL,
        lambda ms: [m for m in ms if m.text == "Backup waiting for approval h1" and m.thread_ts is None],
    )[0]
    clicked = driver.click("carol", parent.ts, "approve")
    assert clicked.http_status == 200 and clicked.acked
    assert bot_log.actions[0]["user"]["id"] == "U0CAROL"
    driver.wait_for(
        CHANNEL, lambda ms: [m for m in ms if m.ts == parent.ts and m.text.startswith("Backup approved")]
    )


def test_bad_signature_is_refused(http_bot: BoltHttpServer, driver: SlackDriver, bot_log: BotLog) -> None:
    result = driver.slash("mallory", CHANNEL, "/etcd", "status", bad_signature=True, settle=0)
    assert result.http_status == 401 and not result.acked and result.error == "http_401"
    assert bot_log.commands == []


def test_stale_timestamp_is_refused(http_bot: BoltHttpServer, driver: SlackDriver, bot_log: BotLog) -> None:
    result = driver.slash("mallory", CHANNEL, "/etcd", "status", timestamp_skew=-6 * 60, settle=0)
    assert result.http_status == 401 and not result.acked
    click_ts = driver.slash("alice", CHANNEL, "/etcd", "backup h2").replies
    assert click_ts  # the legitimate command still works afterwards
    assert len(bot_log.commands) == 1


def test_unreachable_request_url_is_reported(driver: SlackDriver) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    driver.set_request_url(f"http://127.0.0.1:{port}/slack/events")
    result = driver.slash("alice", CHANNEL, "/etcd", "status", settle=0)
    assert not result.acked and result.error == "connection_failed"
