"""``/etcd csr [CLUSTER]`` (seed 3.4): record a CSR run; the checks, the approval and the outcome follow in
the channel."""

from __future__ import annotations

from bot.grammar import Csr
from handlers.deps import BotDeps, Reply, Request
from runner.submit import Refused, submit_run


def handle(command: Csr, request: Request, deps: BotDeps) -> Reply:
    cluster = request.cluster(command.cluster, deps)
    with deps.sessions() as session:
        run = submit_run(
            session=session,
            procedure="csr",
            cluster=cluster.name,
            requested_by=request.user_id,
            channel=request.channel_id,
            trigger_id=request.trigger_id,
        )
    if isinstance(run, Refused):
        return Reply(f":warning: {run.reason}")
    return Reply(
        f":key: Checking the pending CSRs of *{cluster.name}* (run `{run.id}`): each one's checks "
        "follow here, and the valid node-bootstrapper ones are put to the approvers."
    )
