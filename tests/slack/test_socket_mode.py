"""A real Bolt app over Socket Mode, driven by the lab driver as human users.

One local Slack and one Socket Mode connection serve the whole module (closing slack_sdk's client is
slow); each test tags its messages so tests do not see each other's.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lab.slack import LocalSlackThread, Message, SlackConfig, SlackDriver
from tests.slack.conftest import BotLog, build_bolt_app, socket_mode_bot

CHANNEL = "#etcd-lab"


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[SlackDriver, BotLog]]:
    config = SlackConfig()
    log = BotLog()
    with (
        LocalSlackThread(config) as slack,
        socket_mode_bot(build_bolt_app(slack.url, config, log), config.app_token),
    ):
        yield SlackDriver(slack.url), log


@pytest.fixture
def driver(shared: tuple[SlackDriver, BotLog]) -> SlackDriver:
    return shared[0]


@pytest.fixture
def bot_log(shared: tuple[SlackDriver, BotLog]) -> BotLog:
    return shared[1]


def parent_of(driver: SlackDriver, text: str) -> Message:
    found: list[Message] = driver.wait_for(
        CHANNEL, lambda ms: [m for m in ms if m.text == text and m.thread_ts is None]
    )
    return found[0]


def test_bolt_start_calls_auth_test(driver: SlackDriver) -> None:
    calls = driver.api_calls()
    assert any(c.method == "auth.test" and c.token_kind == "bot" and c.ok for c in calls)
    assert any(c.method == "apps.connections.open" and c.token_kind == "app" and c.ok for c in calls)
    assert len(driver.connections()) == 1


def test_slash_command_acked_and_said(driver: SlackDriver, bot_log: BotLog) -> None:
    result = driver.slash("alice", CHANNEL, "/etcd", "status")
    assert result.acked and result.error is None
    assert result.mode == "socket" and result.attempts == 1
    assert result.ack_latency_ms is not None and 0 < result.ack_latency_ms < 1000
    said = driver.wait_for(CHANNEL, lambda ms: [m for m in ms if m.text == "etcd: 3/3 members healthy"])
    assert said[0].user == "U0BOT" and said[0].bot_id == "B0BOT" and said[0].ephemeral_to is None
    body = next(b for b in bot_log.commands if b["text"] == "status")
    assert body["user_id"] == "U0ALICE" and body["user_name"] == "alice"
    assert body["channel_id"] == "C0ETCDLAB" and body["channel_name"] == "etcd-lab"
    assert body["team_id"] == "T0LAB" and body["command"] == "/etcd" and body["api_app_id"] == "A0LAB"
    assert body["response_url"].startswith(driver.base_url + "/response/")
    assert body["trigger_id"]


def test_update_and_thread_reply(driver: SlackDriver) -> None:
    driver.slash("alice", CHANNEL, "/etcd", "backup u1")
    parent = parent_of(driver, "Backup waiting for approval u1")
    assert [e.text for e in parent.edits] == ["Backup requested u1"]
    assert parent.blocks is not None and parent.blocks[1]["block_id"] == "decide"
    thread = driver.wait_for(CHANNEL, lambda ms: [m for m in ms if m.thread_ts == parent.ts])
    assert thread[0].text == "step 1: plan recorded u1"
    assert [m.text for m in driver.thread(CHANNEL, parent.ts)] == [
        "Backup waiting for approval u1",
        "step 1: plan recorded u1",
    ]
    assert float(thread[0].ts) > float(parent.ts)


def test_ephemeral_only_for_its_user(driver: SlackDriver) -> None:
    result = driver.slash("alice", CHANNEL, "/etcd", "secret", settle=0)
    assert result.acked
    texts = {"only you can see this", "ephemeral via API"}

    def both(ms: list[Message]) -> list[Message]:
        hits = [m for m in ms if m.text in texts]
        return hits if len(hits) == 2 else []

    seen = driver.wait_for(CHANNEL, both, as_user="alice")
    assert all(m.ephemeral_to == "U0ALICE" for m in seen)
    assert not [m for m in driver.transcript(CHANNEL, as_user="bob") if m.text in texts]
    assert not [m for m in driver.transcript(CHANNEL) if m.text in texts]
    assert len(both(driver.transcript(CHANNEL, as_user="*"))) == 2


def test_ack_with_text_becomes_ephemeral_or_in_channel(driver: SlackDriver) -> None:
    private = driver.slash("bob", CHANNEL, "/etcd", "ackmsg", settle=0)
    assert private.ack_payload == {"text": "Got it, checking…"}
    assert [(m.text, m.ephemeral_to) for m in private.replies] == [("Got it, checking…", "U0BOB")]
    public = driver.slash("bob", CHANNEL, "/etcd", "public-ack", settle=0)
    assert [(m.text, m.ephemeral_to) for m in public.in_channel] == [("Everyone sees this", None)]


def test_click_reaches_action_with_right_user(driver: SlackDriver, bot_log: BotLog) -> None:
    driver.slash("alice", CHANNEL, "/etcd", "backup c1")
    parent = parent_of(driver, "Backup waiting for approval c1")
    clicked = driver.click("bob", parent.ts, "approve")
    assert clicked.acked and clicked.error is None and clicked.ack_latency_ms is not None
    action = next(a for a in bot_log.actions if a["container"]["message_ts"] == parent.ts)
    assert action["type"] == "block_actions"
    assert action["user"]["id"] == "U0BOB" and action["user"]["username"] == "bob"
    assert action["actions"][0]["action_id"] == "approve" and action["actions"][0]["value"] == "run-1"
    assert action["actions"][0]["block_id"] == "decide" and action["actions"][0]["type"] == "button"
    assert action["channel"]["id"] == "C0ETCDLAB" and action["message"]["ts"] == parent.ts
    driver.wait_for(
        CHANNEL, lambda ms: [m for m in ms if m.text == "approved by <@U0BOB>" and m.thread_ts == parent.ts]
    )
    replaced = driver.wait_for(
        CHANNEL, lambda ms: [m for m in ms if m.ts == parent.ts and m.text == "Backup approved by <@U0BOB>"]
    )
    assert len(replaced[0].edits) == 2


def test_click_errors(driver: SlackDriver) -> None:
    from lab.slack.driver import LabSlackError

    driver.slash("alice", CHANNEL, "/etcd", "backup e1")
    parent = parent_of(driver, "Backup waiting for approval e1")
    with pytest.raises(LabSlackError, match="action_not_found"):
        driver.click("bob", parent.ts, "no-such-button")
    with pytest.raises(LabSlackError, match="user_not_found"):
        driver.click("nobody", parent.ts, "approve")
    private = driver.slash("alice", CHANNEL, "/etcd", "ackmsg", settle=0).replies[0]
    with pytest.raises(LabSlackError, match="message_not_visible"):
        driver.click("bob", private.ts, "approve")


def test_a_stale_client_can_click_a_button_an_edit_removed(driver: SlackDriver, bot_log: BotLog) -> None:
    driver.slash("alice", CHANNEL, "/etcd", "backup s1")
    parent = parent_of(driver, "Backup waiting for approval s1")
    driver.click("bob", parent.ts, "approve")
    driver.wait_for(
        CHANNEL, lambda ms: [m for m in ms if m.ts == parent.ts and m.text == "Backup approved by <@U0BOB>"]
    )
    from lab.slack.driver import LabSlackError

    with pytest.raises(LabSlackError, match="action_not_found"):
        driver.click("carol", parent.ts, "approve")
    again = driver.click("carol", parent.ts, "approve", stale=True)
    assert again.acked and again.error is None
    action = next(a for a in bot_log.actions if a["user"]["username"] == "carol")
    assert action["actions"][0]["value"] == "run-1" and action["container"]["message_ts"] == parent.ts
