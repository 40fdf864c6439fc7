"""``/etcd schedule``, ``/etcd schedules`` and ``/etcd unschedule``: recurring backups, verifications and
health reports.

Making a schedule checks everything a person could get wrong at once — the cron text, the cluster —
and answers with the next firings in UTC, so "0 3 * * 0" turning out to mean something else is seen
before 3 a.m. on Sunday, not after.
"""

from __future__ import annotations

import datetime as dt

from bot.grammar import ALL_CLUSTERS, Schedule, Schedules, Unschedule
from handlers.deps import BotDeps, Reply, Request
from runner.cron import CronError, next_firings, parse_cron
from storage import schedules
from storage.errors import NotFoundError

WHAT = {
    "backup": "backups of",
    "verify": "verification of the newest backup of",
    "health": "health reports on",
}


def _when(moment: dt.datetime | None) -> str:
    return f"{moment:%a %Y-%m-%d %H:%M} UTC" if moment else "never again"


def _scheduler_missing() -> Reply:
    return Reply(":x: This etcdops process has no scheduler running, so nothing was scheduled.")


def handle_schedule(command: Schedule, request: Request, deps: BotDeps) -> Reply:
    if deps.schedules is None:
        return _scheduler_missing()
    try:
        trigger = parse_cron(command.cron)
    except CronError as exc:
        return Reply(f":warning: {exc}\nUsage: `/etcd schedule {command.kind} CRON [CLUSTER]`")
    if command.kind == "health" and command.cluster == ALL_CLUSTERS:
        cluster = ALL_CLUSTERS
    else:
        cluster = request.cluster(command.cluster, deps).name
    channel = command.channel or request.channel_id
    with deps.sessions() as session:
        made = schedules.create_schedule(
            session=session,
            kind=command.kind,
            cron=command.cron,
            cluster=cluster,
            channel=channel,
            created_by=request.user_id,
        )
    deps.schedules.add(made.id, trigger)
    upcoming = ", ".join(_when(t) for t in next_firings(trigger, deps.schedules.now()))
    target = "every cluster" if cluster == ALL_CLUSTERS else f"*{cluster}*"
    where = f" in <#{channel}>" if command.kind == "health" else ""
    return Reply(
        f":calendar: <@{request.user_id}> scheduled {WHAT[command.kind]} {target}{where} at "
        f"`{command.cron}` (UTC), schedule `{made.id}`. Next: {upcoming}. "
        f"A firing missed while etcdops was down runs once when it is back. "
        f"Remove it with `/etcd unschedule {made.id}`.",
        in_channel=True,
    )


def handle_schedules(command: Schedules, request: Request, deps: BotDeps) -> Reply:
    with deps.sessions() as session:
        rows = list(schedules.list_schedules(session=session))
    if not rows:
        return Reply("No schedules yet. Make one with `/etcd schedule backup 0 3 * * * CLUSTER`.")
    lines = []
    for row in rows:
        following = deps.schedules.next_firing(row.id) if deps.schedules else None
        target = "every cluster" if row.cluster == ALL_CLUSTERS else f"*{row.cluster}*"
        where = f" in <#{row.channel}>" if row.kind == "health" and row.channel else ""
        lines.append(
            f"• `{row.id}` {row.kind} of {target}{where} at `{row.cron}` UTC — next {_when(following)} "
            f"(made by <@{row.created_by}> {row.created_at:%Y-%m-%d})"
        )
    return Reply("Schedules:\n" + "\n".join(lines))


def handle_unschedule(command: Unschedule, request: Request, deps: BotDeps) -> Reply:
    try:
        with deps.sessions() as session:
            removed = schedules.delete_schedule(
                command.schedule_id, session=session, deleted_by=request.user_id
            )
    except NotFoundError:
        return Reply(f":warning: There is no schedule `{command.schedule_id}`; `/etcd schedules` lists them.")
    if deps.schedules is not None:
        deps.schedules.remove(removed.id)
    return Reply(
        f":wastebasket: <@{request.user_id}> removed schedule `{removed.id}` ({removed.kind} of "
        f"{removed.cluster} at `{removed.cron}` UTC).",
        in_channel=True,
    )
