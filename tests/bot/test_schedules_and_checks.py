"""The Slack surface of schedules, verification, pruning and health reports (the bot process against the
local Slack; the clusters' APIs do not answer, which these commands do not need to be answered)."""

from __future__ import annotations

import re

import pytest

from lab.slack import CommandResult, SlackDriver
from tests.bot.conftest import CHANNEL


def _texts(result: CommandResult) -> str:
    return "\n".join(m.text for m in result.replies)


def test_a_schedule_is_made_listed_and_removed(socket_bot: SlackDriver) -> None:
    made = socket_bot.slash("alice", CHANNEL, "/etcd", "schedule backup 30 1 * * 0 lab")
    said = _texts(made)
    found = re.search(r"schedule `(s-[a-z0-9]+)`", said)
    assert found, said
    assert "Sun " in said and "01:30 UTC" in said  # crontab's Sunday, not APScheduler's Monday
    assert made.in_channel, "a schedule is news for the channel"
    schedule_id = found.group(1)

    listed = _texts(socket_bot.slash("bob", CHANNEL, "/etcd", "schedules"))
    assert schedule_id in listed and "backup of *lab*" in listed and "next Sun" in listed

    removed = _texts(socket_bot.slash("bob", CHANNEL, "/etcd", f"unschedule {schedule_id}"))
    assert f"removed schedule `{schedule_id}`" in removed
    assert schedule_id not in _texts(socket_bot.slash("bob", CHANNEL, "/etcd", "schedules"))
    again = _texts(socket_bot.slash("bob", CHANNEL, "/etcd", f"unschedule {schedule_id}"))
    assert f"There is no schedule `{schedule_id}`" in again


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("schedule backup 0 25 * * * lab", "is not a valid schedule"),
        ("schedule backup 0 3 * * 9 lab", "day of the week 9 does not exist"),
        ("schedule backup @daily nope", "there is no cluster `nope`"),
        ("schedule health @daily #etcd-lab nope", "there is no cluster `nope`"),
        ("verify #4242 lab", "*lab* has no backup #4242"),
        ("prune lab", "has no retention policy"),
    ],
)
def test_mistakes_are_told_and_nothing_is_scheduled(socket_bot: SlackDriver, text: str, words: str) -> None:
    result = socket_bot.slash("carol", CHANNEL, "/etcd", text)
    assert result.acked and not result.in_channel
    assert words in _texts(result)


def test_a_health_report_of_an_unreachable_cluster_is_red(socket_bot: SlackDriver) -> None:
    asked = socket_bot.slash("alice", CHANNEL, "/etcd", "health all")
    assert "Checking the health of all 2 clusters" in _texts(asked)
    report = socket_bot.wait_for(
        CHANNEL,
        lambda ms: next((m for m in ms if "2 clusters: 2 red" in m.text), None),
        timeout=60,
        interval=0.3,
    )
    assert "lab" in report.text and "prod-east" in report.text
    assert "unreachable" in report.text.lower()
