"""``/etcd prune [CLUSTER]``: apply the cluster's retention policy now (it also runs after every backup)."""

from __future__ import annotations

from bot.grammar import Prune
from handlers.deps import BotDeps, Reply, Request
from runner.submit import Refused, submit_run


def handle(command: Prune, request: Request, deps: BotDeps) -> Reply:
    cluster = request.cluster(command.cluster, deps)
    if cluster.retention is None:
        return Reply(
            f":information_source: *{cluster.name}* has no retention policy, so nothing would be pruned. "
            "Set `retention:` (keep_last, max_age, max_total_size) for it in the clusters file."
        )
    with deps.sessions() as session:
        run = submit_run(
            session=session,
            procedure="prune",
            cluster=cluster.name,
            requested_by=request.user_id,
            channel=request.channel_id,
            trigger_id=request.trigger_id,
        )
    if isinstance(run, Refused):
        return Reply(f":warning: {run.reason}")
    return Reply(f":broom: Applying the retention policy of *{cluster.name}* (run `{run.id}`).")
