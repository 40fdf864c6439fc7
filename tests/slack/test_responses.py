"""response_url rules and delivery failures, exercised with slack_sdk's WebhookClient and WebClient."""

from __future__ import annotations

import socket

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from lab.slack import LocalSlackThread, SlackConfig, SlackDriver

CHANNEL = "#etcd-lab"


def test_response_url_posts_ephemeral_in_channel_and_wears_out(
    slack: LocalSlackThread, driver: SlackDriver
) -> None:
    # No app is connected, so the command is not delivered, but its response_url still exists.
    result = driver.slash("alice", CHANNEL, "/etcd", "status", settle=0)
    assert result.error == "no_socket_mode_connection" and not result.acked
    hook = WebhookClient(result.response_url)
    assert hook.send(text="private").body == "ok"
    assert hook.send(text="public", response_type="in_channel").status_code == 200
    for _ in range(3):
        assert hook.send(text="again").status_code == 200
    worn = hook.send(text="sixth")
    assert (worn.status_code, worn.body) == (404, "used_url")
    assert [m.text for m in driver.transcript(CHANNEL)] == ["public"]
    mine = driver.transcript(CHANNEL, as_user="alice")
    assert [m.text for m in mine] == ["private", "public", "again", "again", "again"]
    assert WebhookClient(driver.base_url + "/response/nope").send(text="x").status_code == 404


def test_ephemeral_cannot_be_edited_with_chat_update(
    slack: LocalSlackThread, slack_config: SlackConfig
) -> None:
    client = WebClient(token=slack_config.bot_token, base_url=slack.url + "/api/")
    ts = client.chat_postEphemeral(channel=CHANNEL, user="U0BOB", text="psst")["message_ts"]
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel=CHANNEL, ts=ts, text="edited")
    assert err.value.response["error"] == "message_not_found"


def test_direct_message_to_a_user(
    slack: LocalSlackThread, slack_config: SlackConfig, driver: SlackDriver
) -> None:
    client = WebClient(token=slack_config.bot_token, base_url=slack.url + "/api/")
    answer = client.chat_postMessage(channel="U0CAROL", text="your approval is needed")
    assert answer["channel"] == "DU0CAROL"
    assert [m.text for m in driver.transcript("DU0CAROL")] == ["your approval is needed"]


def test_slow_http_app_times_out(slack_config: SlackConfig) -> None:
    config = slack_config.with_changes(ack_timeout=0.3)
    with socket.socket() as silent, LocalSlackThread(config) as slack:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections (via the backlog) but never answers
        driver = SlackDriver(slack.url)
        driver.set_request_url(f"http://127.0.0.1:{silent.getsockname()[1]}/slack/events")
        result = driver.slash("alice", CHANNEL, "/etcd", "status", settle=0)
    assert not result.acked and result.error == "operation_timeout"


def test_wait_for_times_out(driver: SlackDriver) -> None:
    with pytest.raises(TimeoutError):
        driver.wait_for(CHANNEL, lambda ms: False, timeout=0.1)
