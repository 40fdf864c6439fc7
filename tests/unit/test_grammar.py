"""The /etcd grammar: what users type, and what they are told when it is wrong."""

from __future__ import annotations

import pytest

from bot.grammar import (
    Backup,
    Backups,
    Cancel,
    Csr,
    Diagnose,
    Help,
    Replace,
    Restore,
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
        ("restore #12", Restore(12)),
        ("restore 12", Restore(12)),
        (
            "restore 12 prod --recovery-host ip-10-0-1-2.ec2.internal --dry-run --override-quorum",
            Restore(12, "prod", "ip-10-0-1-2.ec2.internal", dry_run=True, override_quorum=True),
        ),
        ("restore --recovery-host=ip-10-0-1-2.ec2.internal #3", Restore(3, None, "ip-10-0-1-2.ec2.internal")),
        ("restore #7 lab --recovery-host=10.0.1.2", Restore(7, "lab", "10.0.1.2")),
        ("restore --override-quorum #7", Restore(7, override_quorum=True)),
        ("restore #7 --dry-run", Restore(7, dry_run=True)),
        ("csr", Csr()),
        ("csr prod", Csr("prod")),
    ],
)
def test_commands(text: str, command: object) -> None:
    assert parse(text) == command


RESTORE_USAGE = "/etcd restore BACKUP [CLUSTER] [--recovery-host NODE] [--dry-run] [--override-quorum]"


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
        ("restore", ["`/etcd restore` needs the backup", "`#12`", f"Usage: `{RESTORE_USAGE}`"]),
        ("restore --dry-run", ["needs the backup", f"Usage: `{RESTORE_USAGE}`"]),
        ("restore abc", ["`abc` is not a backup number", "/etcd backups", f"Usage: `{RESTORE_USAGE}`"]),
        ("restore #0", ["`#0` is not a backup number", f"Usage: `{RESTORE_USAGE}`"]),
        ("restore 12x", ["`12x` is not a backup number"]),
        ("restore #12 --force", ["`/etcd restore` has no option `--force`", f"Usage: `{RESTORE_USAGE}`"]),
        ("restore #12 --dry-run=yes", ["has no option `--dry-run=yes`"]),
        (
            "restore #12 --recovery-host",
            ["`--recovery-host` needs a node name or address, not `(nothing)`", f"Usage: `{RESTORE_USAGE}`"],
        ),
        ("restore #12 --recovery-host=", ["`--recovery-host` needs a node name or address"]),
        ("restore #12 --recovery-host --dry-run", ["needs a node name or address, not `--dry-run`"]),
        ("restore #12 --recovery-host 'a;reboot'", ["needs a node name or address, not `a;reboot`"]),
        ("restore #12 prod lab", ["at most one cluster, not 2 words", f"Usage: `{RESTORE_USAGE}`"]),
        ("restore #12 Prod_East", ["not a cluster name", f"Usage: `{RESTORE_USAGE}`"]),
        ("csr a b", ["`/etcd csr` takes at most one cluster", "Usage: `/etcd csr [CLUSTER]`"]),
        ("csr --x", ["`/etcd csr` has no option `--x`", "Usage: `/etcd csr [CLUSTER]`"]),
        ("csr prod --approve-all", ["has no option `--approve-all`"]),
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


def test_help_knows_restore_and_csr() -> None:
    text = help_text()
    assert RESTORE_USAGE in text
    assert "/etcd csr [CLUSTER]" in text
    assert parse("help restore") == Help("restore")
    assert help_text("restore").startswith(f"`{RESTORE_USAGE}`")
    assert help_text("csr").startswith("`/etcd csr [CLUSTER]`")
