"""``/etcd health [CLUSTER|all]``: a health report now, the same one schedules post (a read-only run)."""

from __future__ import annotations

from bot.grammar import ALL_CLUSTERS, Health
from handlers.deps import BotDeps, Reply, Request
from runner.submit import Refused, submit_run


def handle(command: Health, request: Request, deps: BotDeps) -> Reply:
    if command.cluster == ALL_CLUSTERS:
        covered, shown = ALL_CLUSTERS, f"all {len(deps.clusters.clusters)} clusters"
    else:
        covered = request.cluster(command.cluster, deps).name
        shown = f"*{covered}*"
    with deps.sessions() as session:
        run = submit_run(
            session=session,
            procedure="health",
            cluster=covered,
            requested_by=request.user_id,
            channel=request.channel_id,
            trigger_id=request.trigger_id,
            params={"clusters": covered},
        )
    if isinstance(run, Refused):
        return Reply(f":warning: {run.reason}")
    return Reply(f":stethoscope: Checking the health of {shown} (run `{run.id}`); the report follows here.")
