"""The /etcd grammar: what users type, and what they are told when it is wrong."""

from __future__ import annotations

import pytest

from bot.grammar import (
    Backup,
    Backups,
    Cancel,
    Diagnose,
    Help,
    Replace,
    Status,
    UsageError,
    Use,
    help_text,
    parse,
)


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("", Help()),
        ("help", Help()),
        ("help backup", Help("backup")),
        ("status", Status()),
        ("status prod-east", Status("prod-east")),
        ("STATUS lab", Status("lab")),
        ("backup", Backup()),
        ("backup lab --host ip-127-0-0-12.ec2.internal", Backup("lab", "ip-127-0-0-12.ec2.internal")),
        ("backup --host=127.0.0.12", Backup(None, "127.0.0.12")),
        ("backups lab", Backups("lab")),
        ("cancel r-7k2p9", Cancel("r-7k2p9")),
        ("use prod-east", Use("prod-east")),
        ("diagnose", Diagnose()),
        ("diagnose lab", Diagnose("lab")),
        ("replace ip-10-0-1-1.ec2.internal", Replace("ip-10-0-1-1.ec2.internal")),
        ("replace 8e4a1f2d3c4b5a69 prod --dry-run", Replace("8e4a1f2d3c4b5a69", "prod", True)),
    ],
)
def test_commands(text: str, command: object) -> None:
    assert parse(text) == command


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("restart etcd", ["`restart` is not an etcdops command", "`status`", "/etcd help"]),
        ("status a b", ["at most one cluster", "Usage: `/etcd status [CLUSTER]`"]),
        ("status Prod_East", ["not a cluster name", "Usage: `/etcd status [CLUSTER]`"]),
        ("status --all", ["has no option `--all`"]),
        ("backup --host", ["`--host` needs a node name", "Usage: `/etcd backup [CLUSTER] [--host NODE]`"]),
        ("backup --host 'a;rm -rf /'", ["needs a node name or address, not `a;rm -rf /`"]),
        ("backup lab --force", ["has no option `--force`"]),
        ("cancel", ["exactly one run ID"]),
        ("use", ["exactly one cluster name", "Usage: `/etcd use CLUSTER`"]),
        ("diagnose a b", ["at most one cluster", "Usage: `/etcd diagnose [CLUSTER]`"]),
        ("replace", ["needs the member", "Usage: `/etcd replace MEMBER [CLUSTER] [--dry-run]`"]),
        ("replace 'x;rm -rf /'", ["is not a node name or a member ID"]),
        ("replace a --force", ["has no option `--force`"]),
        ("use Lab_1", ["not a cluster name"]),
        ("cancel 12345", ["not a run ID", "r-7k2p9"]),
        ("help reboot", ["no `/etcd reboot` command"]),
        ("status 'unclosed", ["cannot read that command"]),
    ],
)
def test_mistakes_say_what_to_type(text: str, words: list[str]) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text)
    for word in words:
        assert word in str(caught.value)


def test_help_lists_every_command() -> None:
    text = help_text()
    for usage in ("/etcd status [CLUSTER]", "/etcd backup [CLUSTER] [--host NODE]", "/etcd cancel RUN_ID"):
        assert usage in text
    assert help_text("backups").startswith("`/etcd backups [CLUSTER]`")
