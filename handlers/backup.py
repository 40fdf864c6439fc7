"""``/etcd backup [CLUSTER] [--host NODE]`` (seed 1.1): record a backup run for the runner."""

from __future__ import annotations

from bot.grammar import Backup
from handlers.deps import BotDeps, Reply, Request
from runner.submit import Refused, submit_run


def handle(command: Backup, request: Request, deps: BotDeps) -> Reply:
    cluster = request.cluster(command.cluster, deps)
    params = {"host": command.host} if command.host else {}
    with deps.sessions() as session:
        run = submit_run(
            session=session,
            procedure="backup",
            cluster=cluster.name,
            requested_by=request.user_id,
            channel=request.channel_id,
            trigger_id=request.trigger_id,
            params=params,
        )
    if isinstance(run, Refused):
        return Reply(f":warning: {run.reason}")
    where = f" on {command.host}" if command.host else " on a healthy master"
    return Reply(
        f":floppy_disk: Backup of *{cluster.name}*{where} requested (run `{run.id}`); "
        f"its progress is posted in this channel. Stop it with `/etcd cancel {run.id}`."
    )
