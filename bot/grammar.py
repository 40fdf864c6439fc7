"""The ``/etcd`` command grammar: text in, a typed command or a usage error out (pure).

Every mistake gets a message that says what was wrong and what to type instead; nothing here touches
Slack, the database or a cluster, so it is tested exhaustively and cheaply.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

CLUSTER = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
NODE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
RUN_ID = re.compile(r"^r-[a-z0-9]{4,12}$")

USAGE = {
    "help": "/etcd help [COMMAND]",
    "status": "/etcd status [CLUSTER]",
    "diagnose": "/etcd diagnose [CLUSTER]",
    "backup": "/etcd backup [CLUSTER] [--host NODE]",
    "backups": "/etcd backups [CLUSTER]",
    "replace": "/etcd replace MEMBER [CLUSTER] [--dry-run]",
    "restore": "/etcd restore BACKUP [CLUSTER] [--recovery-host NODE] [--dry-run] [--override-quorum]",
    "csr": "/etcd csr [CLUSTER]",
    "cancel": "/etcd cancel RUN_ID",
    "use": "/etcd use CLUSTER",
}
SUMMARY = {
    "help": "show this help, or one command's",
    "status": "etcd members, masters, etcd pods, certificates and last backup at a glance",
    "diagnose": "which member is unhealthy, in what state, and which procedure applies (seed 2.2, 2.3)",
    "backup": "take an etcd backup on one healthy master (seed 1.1) and copy it off the cluster",
    "backups": "list the backups taken so far",
    "replace": "replace an unhealthy member (node name or member ID) as seed 2.4 says, with approvals",
    "restore": "restore the cluster from a backup (`#N` of `/etcd backups`) after losing quorum (seed 3.3)",
    "csr": "list pending CSRs, check them, and approve the valid node-bootstrapper ones (seed 3.4)",
    "cancel": "cancel a run that has not finished",
    "use": "make CLUSTER this channel's default, so commands here need not name it",
}


class UsageError(ValueError):
    """What was wrong and what to type instead."""

    def __init__(self, problem: str, command: str | None = None) -> None:
        hint = f"Usage: `{USAGE[command]}`" if command else "Try `/etcd help`."
        super().__init__(f"{problem}\n{hint}")
        self.problem = problem
        self.command = command


@dataclass(frozen=True)
class Help:
    topic: str | None = None


@dataclass(frozen=True)
class Status:
    cluster: str | None = None


@dataclass(frozen=True)
class Diagnose:
    cluster: str | None = None


@dataclass(frozen=True)
class Backup:
    cluster: str | None = None
    host: str | None = None


@dataclass(frozen=True)
class Replace:
    member: str
    cluster: str | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class Restore:
    backup: int
    cluster: str | None = None
    recovery_host: str | None = None
    dry_run: bool = False
    override_quorum: bool = False


@dataclass(frozen=True)
class Csr:
    cluster: str | None = None


@dataclass(frozen=True)
class Backups:
    cluster: str | None = None


@dataclass(frozen=True)
class Cancel:
    run_id: str


@dataclass(frozen=True)
class Use:
    cluster: str


Command = Help | Status | Diagnose | Backup | Backups | Replace | Restore | Csr | Cancel | Use
BACKUP_ID = re.compile(r"^#?([1-9][0-9]{0,17})$")


def _cluster(value: str, command: str) -> str:
    if not CLUSTER.match(value):
        raise UsageError(f"`{value}` is not a cluster name (lowercase letters, digits and dashes)", command)
    return value


def _at_most_one_cluster(args: list[str], command: str) -> str | None:
    if len(args) > 1:
        raise UsageError(f"`/etcd {command}` takes at most one cluster, not {len(args)} words", command)
    return _cluster(args[0], command) if args else None


def _reject_options(args: list[str], command: str, known: tuple[str, ...] = ()) -> None:
    for arg in args:
        if arg.startswith("-") and arg.split("=", 1)[0] not in known:
            raise UsageError(f"`/etcd {command}` has no option `{arg}`", command)


def _valued_option(args: list[str], option: str, command: str) -> tuple[list[str], str | None]:
    """Take ``--option VALUE`` or ``--option=VALUE`` (a node name or address) out of ``args``."""
    rest: list[str] = []
    value: str | None = None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == option or arg.startswith(option + "="):
            found = arg.split("=", 1)[1] if "=" in arg else (args[i + 1] if i + 1 < len(args) else "")
            i += 1 if "=" in arg else 2
            if not found or not NODE.match(found):
                raise UsageError(
                    f"`{option}` needs a node name or address, not `{found or '(nothing)'}`", command
                )
            value = found
            continue
        rest.append(arg)
        i += 1
    return rest, value


def _flag(args: list[str], flag: str) -> tuple[list[str], bool]:
    return [a for a in args if a != flag], flag in args


def help_text(topic: str | None = None) -> str:
    if topic:
        return f"`{USAGE[topic]}`: {SUMMARY[topic]}"
    lines = [f"• `{USAGE[name]}` — {SUMMARY[name]}" for name in USAGE]
    return "etcdops commands:\n" + "\n".join(lines)


def parse(text: str) -> Command:
    """Parse what follows ``/etcd`` in a slash command."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"cannot read that command: {exc}") from exc
    if not words:
        return Help()
    name, args = words[0].lower(), words[1:]
    if name in ("help", "-h", "--help"):
        if args and args[0] not in USAGE:
            raise UsageError(f"there is no `/etcd {args[0]}` command", "help")
        return Help(args[0] if args else None)
    if name == "status":
        _reject_options(args, name)
        return Status(_at_most_one_cluster(args, name))
    if name == "diagnose":
        _reject_options(args, name)
        return Diagnose(_at_most_one_cluster(args, name))
    if name == "backups":
        _reject_options(args, name)
        return Backups(_at_most_one_cluster(args, name))
    if name == "backup":
        rest, host = _valued_option(args, "--host", name)
        _reject_options(rest, name)
        return Backup(_at_most_one_cluster(rest, name), host)
    if name == "restore":
        return _restore(args)
    if name == "csr":
        _reject_options(args, name)
        return Csr(_at_most_one_cluster(args, name))
    if name == "cancel":
        if len(args) != 1:
            raise UsageError("`/etcd cancel` needs exactly one run ID (shown on the run's message)", name)
        if not RUN_ID.match(args[0]):
            raise UsageError(f"`{args[0]}` is not a run ID; run IDs look like `r-7k2p9`", name)
        return Cancel(args[0])
    if name == "replace":
        dry_run = "--dry-run" in args
        rest = [a for a in args if a != "--dry-run"]
        _reject_options(rest, name)
        if not rest:
            raise UsageError("`/etcd replace` needs the member: its node name or its member ID", name)
        if not NODE.match(rest[0]):
            raise UsageError(f"`{rest[0]}` is not a node name or a member ID (like `8e4a1f2d3c4b5a69`)", name)
        return Replace(rest[0], _at_most_one_cluster(rest[1:], name), dry_run)
    if name == "use":
        _reject_options(args, name)
        if len(args) != 1:
            raise UsageError("`/etcd use` needs exactly one cluster name", name)
        return Use(_cluster(args[0], name))
    known = ", ".join(f"`{n}`" for n in USAGE)
    raise UsageError(f"`{words[0]}` is not an etcdops command; the commands are {known}.")


def _restore(args: list[str]) -> Restore:
    rest, recovery_host = _valued_option(args, "--recovery-host", "restore")
    rest, dry_run = _flag(rest, "--dry-run")
    rest, override = _flag(rest, "--override-quorum")
    _reject_options(rest, "restore")
    if not rest:
        raise UsageError(
            "`/etcd restore` needs the backup: its number in `/etcd backups`, like `#12`", "restore"
        )
    found = BACKUP_ID.match(rest[0])
    if found is None:
        raise UsageError(
            f"`{rest[0]}` is not a backup number; `/etcd backups` lists them (like `#12`)", "restore"
        )
    return Restore(
        int(found.group(1)), _at_most_one_cluster(rest[1:], "restore"), recovery_host, dry_run, override
    )
