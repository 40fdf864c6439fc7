"""The ``/etcd`` slash command: parse, record, and answer within Slack's 3 seconds.

The listener never touches a cluster: it validates the text, hands the typed command to its
subcommand's handler (which at most records a run for the runner, or reads the database) and acks
with the handler's reply. Usage mistakes and unknown clusters get an ephemeral message saying what to
type instead; an unexpected failure is logged and told to the user, never swallowed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App

from bot.grammar import (
    Backup,
    Backups,
    Cancel,
    Command,
    Csr,
    Diagnose,
    Health,
    Help,
    Incident,
    Prune,
    Replace,
    Restore,
    Schedule,
    Schedules,
    Status,
    Unschedule,
    UsageError,
    Use,
    Verify,
    help_text,
    parse,
)
from bot.targets import UnknownCluster
from handlers import (
    backup,
    backups,
    cancel,
    csr,
    diagnose,
    health,
    incident,
    prune,
    replace,
    restore,
    schedule,
    status,
    use,
    verify,
)
from handlers.deps import BotDeps, Reply, Request
from storage.db import urgent_turn

log = logging.getLogger(__name__)

HANDLERS: dict[type, Callable[[Any, Request, BotDeps], Reply]] = {
    Status: status.handle,
    Diagnose: diagnose.handle,
    Backup: backup.handle,
    Backups: backups.handle,
    Replace: replace.handle,
    Restore: restore.handle,
    Csr: csr.handle,
    Cancel: cancel.handle,
    Use: use.handle,
    Incident: incident.handle,
    Schedule: schedule.handle_schedule,
    Schedules: schedule.handle_schedules,
    Unschedule: schedule.handle_unschedule,
    Health: health.handle,
    Prune: prune.handle,
    Verify: verify.handle,
}


def answer(text: str, request: Request, deps: BotDeps) -> Reply:
    """The reply to ``/etcd text`` typed by ``request.user_id`` in ``request.channel_id``."""
    try:
        parsed: Command = parse(text)
    except UsageError as exc:
        return Reply(f":warning: {exc}")
    if isinstance(parsed, Help):
        return Reply(help_text(parsed.topic))
    try:
        with urgent_turn(deps.sessions):  # the ack is due within 3 s: commands in arrival order, first
            return HANDLERS[type(parsed)](parsed, request, deps)
    except UnknownCluster as exc:
        return Reply(f":warning: {exc}")
    except Exception:
        log.exception("/etcd %s failed", text.split()[0] if text.split() else "")
        return Reply(
            ":x: etcdops could not record that command (see the bot's log); nothing was started. "
            "Try again in a moment."
        )


def register(app: App, deps: BotDeps) -> None:
    @app.command("/etcd")
    def etcd(ack: Ack, command: dict[str, Any]) -> None:
        reply = answer(command.get("text") or "", Request.from_command(command), deps)
        ack(**reply.ack_kwargs())
