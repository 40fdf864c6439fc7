"""``/etcd status [CLUSTER]``: record a read-only status run; the relay posts the report when it is in."""

from __future__ import annotations

from bot.grammar import Status
from handlers.deps import BotDeps, Reply, Request
from runner.submit import Refused, submit_run


def handle(command: Status, request: Request, deps: BotDeps) -> Reply:
    cluster = request.cluster(command.cluster, deps)
    with deps.sessions() as session:
        run = submit_run(
            session=session,
            procedure="status",
            cluster=cluster.name,
            requested_by=request.user_id,
            channel=request.channel_id,
        )
    if isinstance(run, Refused):
        return Reply(f":warning: {run.reason}")
    return Reply(f":mag: Checking etcd on *{cluster.name}* (run `{run.id}`); the report follows here.")
