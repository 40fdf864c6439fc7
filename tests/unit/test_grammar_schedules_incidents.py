"""The /etcd grammar of issue 6: schedules, verification, pruning, health reports and incidents."""

from __future__ import annotations

import pytest

from bot.grammar import (
    Health,
    Incident,
    Prune,
    Schedule,
    Schedules,
    Unschedule,
    UsageError,
    Verify,
    help_text,
    parse,
)


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("schedule backup 0 3 * * *", Schedule("backup", "0 3 * * *")),
        ("schedule backup '30 1 * * sun' prod", Schedule("backup", "30 1 * * sun", "prod")),
        ("schedule backup @daily lab", Schedule("backup", "@daily", "lab")),
        ("schedule verify 0 4 * * * lab", Schedule("verify", "0 4 * * *", "lab")),
        ("schedule health 0 8 * * 1-5", Schedule("health", "0 8 * * 1-5")),
        ("schedule health @daily <#C0ABC12|etcd-ops> all", Schedule("health", "@daily", "all", "C0ABC12")),
        ("schedule health @hourly <#C0ABC12> prod", Schedule("health", "@hourly", "prod", "C0ABC12")),
        ("schedule HEALTH 0 8 * * * #etcd-ops", Schedule("health", "0 8 * * *", None, "etcd-ops")),
        ("schedules", Schedules()),
        ("unschedule s-4f2k9", Unschedule("s-4f2k9")),
        ("verify #3", Verify(3)),
        ("verify 3 prod", Verify(3, "prod")),
        ("prune", Prune()),
        ("prune lab", Prune("lab")),
        ("health", Health()),
        ("health all", Health("all")),
        ("health prod", Health("prod")),
        ("incident open master-0's etcd won't start", Incident("open", "master-0's etcd won't start")),
        ('Incident   note   we\'re on it "really"', Incident("note", 'we\'re on it "really"')),
        ("incident follow #4", Incident("follow", incident=4)),
        ("incident follow 4", Incident("follow", incident=4)),
        ("incident close", Incident("close")),
        ("incident export", Incident("export")),
        ("incident export #2", Incident("export", incident=2)),
    ],
)
def test_commands(text: str, command: object) -> None:
    assert parse(text) == command


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("schedule", ["schedules backup, verify, health, not nothing", "Usage: `/etcd schedule"]),
        ("schedule restore @daily", ["not `restore`"]),
        ("schedule backup", ["the schedule is missing", "`0 3 * * *`"]),
        ("schedule backup 0 3 *", ["five fields"]),
        ("schedule backup 0 3 * * * a b", ["at most one cluster"]),
        ("schedule backup 0 3 * * * Prod_X", ["not a cluster name"]),
        ("schedule backup @daily --now", ["has no option `--now`"]),
        ("schedule health @daily #Bad!", ["is not a channel"]),
        ("schedules lab", ["takes nothing after it"]),
        ("unschedule", ["`(nothing)` is not a schedule ID", "/etcd schedules"]),
        ("unschedule 12", ["`12` is not a schedule ID"]),
        ("verify", ["needs the backup", "`#12`", "Usage: `/etcd verify BACKUP [CLUSTER]`"]),
        ("verify latest", ["`latest` is not a backup number"]),
        ("health a b", ["at most one cluster"]),
        ("incident", ["can open, note, follow, close or export, not nothing"]),
        ("incident reopen 3", ["not `reopen`"]),
        ("incident open", ["needs a title"]),
        ("incident note   ", ["needs the note's text"]),
        ("incident follow", ["needs the incident's number"]),
        ("incident follow abc", ["`abc` is not an incident number"]),
        ("incident open " + "x" * 2001, ["keep it under 2000"]),
    ],
)
def test_mistakes_say_what_to_type(text: str, words: list[str]) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text)
    for word in words:
        assert word in str(caught.value)


def test_schedule_backup_for_all_clusters_is_a_cluster_named_all() -> None:
    """``all`` fans out only for health reports; for backups it is just a (probably unknown) name,
    which the handler reports as unknown."""
    assert parse("schedule backup @daily all") == Schedule("backup", "@daily", "all")


def test_help_lists_the_new_commands() -> None:
    text = help_text()
    for word in ("/etcd schedule backup|verify CRON", "/etcd schedules", "/etcd unschedule SCHEDULE_ID"):
        assert word in text
    assert "/etcd incident open TITLE" in text
    assert help_text("verify").startswith("`/etcd verify BACKUP [CLUSTER]`")
