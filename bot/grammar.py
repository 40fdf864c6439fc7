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
SCHEDULE_ID = re.compile(r"^s-[a-z0-9]{4,12}$")
INCIDENT_ID = re.compile(r"^#?([1-9][0-9]{0,17})$")
# How Slack escapes a channel mention in a command's text (``<#C0123|ops>``), or a plain ``#name``.
CHANNEL = re.compile(r"^<#([A-Z0-9]+)(?:\|([^>]*))?>$|^#([a-z0-9][a-z0-9_-]{0,79})$")
SCHEDULE_KINDS = ("backup", "verify", "health")
ALL_CLUSTERS = "all"

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
    "verify": "/etcd verify BACKUP [CLUSTER]",
    "prune": "/etcd prune [CLUSTER]",
    "health": "/etcd health [CLUSTER|all]",
    "schedule": "/etcd schedule backup|verify CRON [CLUSTER]  or  /etcd schedule health CRON [#CHANNEL] "
    "[CLUSTER|all]",
    "schedules": "/etcd schedules",
    "unschedule": "/etcd unschedule SCHEDULE_ID",
    "incident": "/etcd incident open TITLE | note TEXT | follow INCIDENT | close | export [INCIDENT]",
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
    "verify": "restore a backup into a scratch etcd (never the cluster), count its keys, check the catalog",
    "prune": "apply the cluster's retention policy to its backups now (runs after every backup anyway)",
    "health": "a health report (green, amber or red, with the reasons) for one cluster or all of them",
    "schedule": "take backups, verify the newest or post health reports on a cron schedule (UTC)",
    "schedules": "list the schedules, with their next firing",
    "unschedule": "remove a schedule (its ID is in `/etcd schedules`)",
    "incident": "group runs, approvals, health changes and notes into one timeline; export it as Markdown",
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


@dataclass(frozen=True)
class Verify:
    backup: int
    cluster: str | None = None


@dataclass(frozen=True)
class Prune:
    cluster: str | None = None


@dataclass(frozen=True)
class Health:
    """``cluster`` is a name, ``all``, or None for the channel's default cluster."""

    cluster: str | None = None


@dataclass(frozen=True)
class Schedule:
    """A new schedule. ``cron`` is the text as typed (checked by :mod:`runner.cron` when recorded);
    ``channel`` is where health reports go (None: the channel it was typed in)."""

    kind: str
    cron: str
    cluster: str | None = None
    channel: str | None = None


@dataclass(frozen=True)
class Schedules:
    pass


@dataclass(frozen=True)
class Unschedule:
    schedule_id: str


@dataclass(frozen=True)
class Incident:
    """``action`` is open/note/follow/close/export; ``text`` the title or note as typed, unquoted."""

    action: str
    text: str = ""
    incident: int | None = None


Command = (
    Help
    | Status
    | Diagnose
    | Backup
    | Backups
    | Replace
    | Restore
    | Csr
    | Cancel
    | Use
    | Verify
    | Prune
    | Health
    | Schedule
    | Schedules
    | Unschedule
    | Incident
)
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
    first, _, rest_text = text.strip().partition(" ")
    if first.lower() == "incident":  # titles and notes are free text: apostrophes are not quotes
        return _incident(rest_text.strip())
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
    if name == "verify":
        _reject_options(args, name)
        if not args:
            raise UsageError(
                "`/etcd verify` needs the backup: its number in `/etcd backups`, like `#12`", name
            )
        found = BACKUP_ID.match(args[0])
        if found is None:
            raise UsageError(
                f"`{args[0]}` is not a backup number; `/etcd backups` lists them (like `#12`)", name
            )
        return Verify(int(found.group(1)), _at_most_one_cluster(args[1:], name))
    if name == "prune":
        _reject_options(args, name)
        return Prune(_at_most_one_cluster(args, name))
    if name == "health":
        _reject_options(args, name)
        if args == [ALL_CLUSTERS]:
            return Health(ALL_CLUSTERS)
        return Health(_at_most_one_cluster(args, name))
    if name == "schedule":
        return _schedule(args)
    if name == "schedules":
        if args:
            raise UsageError("`/etcd schedules` takes nothing after it", name)
        return Schedules()
    if name == "unschedule":
        if len(args) != 1 or not SCHEDULE_ID.match(args[0]):
            shown = " ".join(args) or "(nothing)"
            raise UsageError(
                f"`{shown}` is not a schedule ID; `/etcd schedules` lists them (like `s-4f2k9`)", name
            )
        return Unschedule(args[0])
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


def _take_cron(args: list[str], command: str) -> tuple[str, list[str]]:
    """The cron text at the front of ``args``: one quoted word, an ``@daily``-like shortcut, or the
    five unquoted fields (Slack users rarely quote)."""
    if not args:
        raise UsageError("the schedule is missing: give crontab text like `0 3 * * *` (UTC)", command)
    if args[0].startswith("@") or " " in args[0]:
        return args[0], args[1:]
    if len(args) < 5:
        raise UsageError(
            f"`{' '.join(args)}` is not a schedule: crontab text has five fields, like `0 3 * * *` (UTC)",
            command,
        )
    return " ".join(args[:5]), args[5:]


def _schedule(args: list[str]) -> Schedule:
    if not args or args[0].lower() not in SCHEDULE_KINDS:
        what = f"`{args[0]}`" if args else "nothing"
        raise UsageError(f"`/etcd schedule` schedules {', '.join(SCHEDULE_KINDS)}, not {what}", "schedule")
    kind = args[0].lower()
    cron, rest = _take_cron(args[1:], "schedule")
    channel: str | None = None
    if kind == "health" and rest and rest[0].startswith(("#", "<#")):
        found = CHANNEL.match(rest[0])
        if found is None:
            raise UsageError(f"`{rest[0]}` is not a channel; name it like `#etcd-ops`", "schedule")
        channel = found.group(1) or found.group(3)
        rest = rest[1:]
    _reject_options(rest, "schedule")
    if kind == "health" and rest == [ALL_CLUSTERS]:
        return Schedule(kind, cron, ALL_CLUSTERS, channel)
    return Schedule(kind, cron, _at_most_one_cluster(rest, "schedule"), channel)


def _incident(text: str) -> Incident:
    action, _, rest = text.partition(" ")
    action, rest = action.lower(), rest.strip()
    if action in ("open", "note"):
        if not rest:
            what = "a title" if action == "open" else "the note's text"
            raise UsageError(f"`/etcd incident {action}` needs {what}", "incident")
        if len(rest) > 2000:
            raise UsageError(f"that {action} text is {len(rest)} characters; keep it under 2000", "incident")
        return Incident(action, rest)
    if action in ("follow", "close", "export"):
        if not rest:
            if action == "follow":
                raise UsageError(
                    "`/etcd incident follow` needs the incident's number (shown when it was opened)",
                    "incident",
                )
            return Incident(action)
        found = INCIDENT_ID.match(rest)
        if found is None:
            raise UsageError(f"`{rest}` is not an incident number (like `#3`)", "incident")
        return Incident(action, incident=int(found.group(1)))
    shown = f"`{action}`" if action else "nothing"
    raise UsageError(f"`/etcd incident` can open, note, follow, close or export, not {shown}", "incident")
