"""What ``/etcd status`` and ``/etcd diagnose`` share: a read-only run whose report the relay posts."""

from __future__ import annotations

from handlers.deps import BotDeps, Reply, Request
from runner.submit import Refused, submit_run
from storage.db import one_write_transaction


def request_report(procedure: str, doing: str, named: str | None, request: Request, deps: BotDeps) -> Reply:
    """Record a ``procedure`` run for the cluster ``named`` (or the channel's) and say it is under way."""
    with deps.sessions() as session, one_write_transaction(session):  # one transaction before the ack
        cluster = request.cluster(named, deps, session=session)
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
