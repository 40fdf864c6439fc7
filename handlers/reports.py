"""What ``/etcd status`` and ``/etcd diagnose`` share: a read-only run whose report the relay posts."""

from __future__ import annotations

from handlers.deps import BotDeps, Reply, Request
from runner.submit import Refused, submit_run


def request_report(procedure: str, doing: str, named: str | None, request: Request, deps: BotDeps) -> Reply:
    """Record a ``procedure`` run for the cluster ``named`` (or the channel's) and say it is under way."""
    cluster = request.cluster(named, deps)
    with deps.sessions() as session:
        run = submit_run(
            session=session,
            procedure=procedure,
            cluster=cluster.name,
            requested_by=request.user_id,
            channel=request.channel_id,
            trigger_id=request.trigger_id,
        )
    if isinstance(run, Refused):
        return Reply(f":warning: {run.reason}")
    return Reply(f":mag: {doing} *{cluster.name}* (run `{run.id}`); the report follows here.")
