"""The Web API through slack_sdk's real WebClient: answers, errors, scopes, files and the call log."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from lab.slack import LocalSlackThread, SlackConfig, SlackDriver

CHANNEL = "C0ETCDLAB"


@pytest.fixture
def client(slack: LocalSlackThread, slack_config: SlackConfig) -> WebClient:
    return WebClient(token=slack_config.bot_token, base_url=slack.url + "/api/")


def test_auth_test_names_the_bot(client: WebClient) -> None:
    answer = client.auth_test()
    assert answer["user_id"] == "U0BOT" and answer["team_id"] == "T0LAB" and answer["bot_id"] == "B0BOT"


def test_messages_updates_threads(client: WebClient, driver: SlackDriver) -> None:
    first = client.chat_postMessage(channel="#etcd-lab", text="one")
    second = client.chat_postMessage(channel=CHANNEL, text="two", blocks=[{"type": "divider"}])
    assert first["channel"] == CHANNEL
    assert float(second["ts"]) > float(first["ts"])
    assert len(first["ts"].split(".")[1]) == 6
    client.chat_update(channel=CHANNEL, ts=first["ts"], text="one, edited")
    reply = client.chat_postMessage(channel=CHANNEL, text="in thread", thread_ts=first["ts"])
    assert reply["message"]["thread_ts"] == first["ts"]
    messages = driver.transcript("etcd-lab")
    assert [m.text for m in messages] == ["one, edited", "two", "in thread"]
    assert messages[0].edits[0].text == "one" and messages[0].edits[0].at > 0
    assert messages[1].blocks == [{"type": "divider"}]
    assert [m.text for m in driver.thread(CHANNEL, first["ts"])] == ["one, edited", "in thread"]


def test_ephemeral_is_private(client: WebClient, driver: SlackDriver) -> None:
    answer = client.chat_postEphemeral(channel=CHANNEL, user="U0ALICE", text="psst")
    assert answer["message_ts"]
    assert [m.text for m in driver.transcript(CHANNEL, as_user="alice")] == ["psst"]
    assert driver.transcript(CHANNEL, as_user="bob") == []
    assert driver.transcript(CHANNEL) == []
    assert driver.render(CHANNEL).endswith("bot: psst  (only @alice)")
    assert driver.render(CHANNEL, as_user=None) == ""


def test_users_and_groups(client: WebClient) -> None:
    user = client.users_info(user="U0BOB")["user"]
    assert user["name"] == "bob" and user["is_bot"] is False
    assert client.usergroups_users_list(usergroup="S0APPROVERS")["users"] == ["U0BOB", "U0CAROL"]
    with pytest.raises(SlackApiError) as err:
        client.usergroups_users_list(usergroup="S0NOPE")
    assert err.value.response["error"] == "no_such_subteam"


@pytest.mark.parametrize(
    ("token", "error"),
    [
        (None, "not_authed"),
        ("xoxb-wrong", "invalid_auth"),
        ("xapp-1-A0LAB-0000-app", "not_allowed_token_type"),
    ],
)
def test_auth_errors(slack: LocalSlackThread, token: str | None, error: str) -> None:
    client = WebClient(token=token, base_url=slack.url + "/api/")
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel=CHANNEL, text="x")
    assert err.value.response["error"] == error


def test_channel_and_message_errors(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="#nope", text="x")
    assert err.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel=CHANNEL, ts="1.000001", text="x")
    assert err.value.response["error"] == "message_not_found"


def test_missing_scope(slack_config: SlackConfig) -> None:
    config = slack_config.with_changes(bot_scopes=("chat:write", "commands"))
    with LocalSlackThread(config) as slack:
        client = WebClient(token=config.bot_token, base_url=slack.url + "/api/")
        with pytest.raises(SlackApiError) as err:
            client.users_info(user="U0BOB")
        assert err.value.response["error"] == "missing_scope"
        assert err.value.response["needed"] == "users:read"
        assert err.value.response["provided"] == "chat:write,commands"
        assert err.value.response.headers["X-Accepted-OAuth-Scopes"] == "users:read"
        assert err.value.response.headers["X-OAuth-Scopes"] == "chat:write,commands"
        calls = SlackDriver(slack.url).api_calls()
    assert [(c.method, c.scope, c.ok, c.error) for c in calls] == [
        ("users.info", "users:read", False, "missing_scope")
    ]


def test_commands_scope_needed_for_slash(slack_config: SlackConfig) -> None:
    config = slack_config.with_changes(bot_scopes=("chat:write",))
    with LocalSlackThread(config) as slack:
        result = SlackDriver(slack.url).slash("alice", "#etcd-lab", "/etcd", "status", settle=0)
    assert not result.acked and result.error == "missing_scope"


def test_files_upload_v2_round_trip(client: WebClient, driver: SlackDriver) -> None:
    parent = client.chat_postMessage(channel=CHANNEL, text="backup done")
    answer = client.files_upload_v2(
        channel=CHANNEL,
        thread_ts=parent["ts"],
        content="member,status\netcd-0,ok\n",
        filename="report.csv",
        title="Backup report",
        initial_comment="report attached",
    )
    assert answer["file"]["title"] == "Backup report"
    files = driver.files("#etcd-lab")
    assert len(files) == 1
    assert files[0].name == "report.csv" and files[0].content == b"member,status\netcd-0,ok\n"
    assert files[0].thread_ts == parent["ts"] and files[0].completed
    thread = driver.thread(CHANNEL, parent["ts"])
    assert thread[-1].text == "report attached" and thread[-1].files == [files[0].id]
    methods = [(c.method, c.scope) for c in driver.api_calls()]
    assert ("files.getUploadURLExternal", "files:write") in methods
    assert ("files.completeUploadExternal", "files:write") in methods


def test_binary_file_kept_exactly(client: WebClient, driver: SlackDriver) -> None:
    data = bytes(range(256)) * 4
    client.files_upload_v2(channel=CHANNEL, content=data, filename="snap.db")
    assert driver.files(CHANNEL)[0].content == data


def test_connections_open_needs_app_token(slack: LocalSlackThread, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        client.apps_connections_open(app_token="xoxb-lab-0000-bot")
    assert err.value.response["error"] == "not_allowed_token_type"
    url = client.apps_connections_open(app_token="xapp-1-A0LAB-0000-app")["url"]
    assert url.startswith(slack.url.replace("http://", "ws://") + "/socket-mode/")


def test_control_api_rejects_bad_requests(driver: SlackDriver) -> None:
    from lab.slack.driver import LabSlackError

    with pytest.raises(LabSlackError, match="channel_not_found"):
        driver.transcript("#nope")
    with pytest.raises(LabSlackError, match="invalid_arguments"):
        driver._call("slash", {"user": "alice"})
