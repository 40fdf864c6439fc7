"""``/etcd replace MEMBER [CLUSTER] [--dry-run]`` (seed 2.4): record a replacement run.

The seed's prerequisite is checked here, before anything is recorded: a verified backup younger than the
cluster's ``backup_max_age``. A dry run needs none: it only shows the plan.
"""

from __future__ import annotations

from bot.clusters import parse_duration
from bot.grammar import Replace
from handlers.deps import BotDeps, Reply, Request
from runner.submit import Refused, submit_run
from storage import backups
from storage.models import utcnow


def handle(command: Replace, request: Request, deps: BotDeps) -> Reply:
    cluster = request.cluster(command.cluster, deps)
    with deps.sessions() as session:
        if not command.dry_run:
            last = backups.latest_verified_backup(cluster.name, session=session)
            limit = parse_duration(cluster.backup_max_age)
            age = (utcnow() - last.taken_at).total_seconds() if last else None
            if age is None or age > limit:
                had = (
                    f"the last verified one is {age / 3600:.1f} h old" if age is not None else "there is none"
                )
                return Reply(
                    f":warning: The seed asks for a backup before a member is replaced: {had} "
                    f"(limit {cluster.backup_max_age}). Take one with `/etcd backup {cluster.name}`, then "
                    f"replace. `/etcd replace {command.member} --dry-run` shows the plan meanwhile."
                )
        run = submit_run(
            session=session,
            procedure="replace",
            cluster=cluster.name,
            requested_by=request.user_id,
            channel=request.channel_id,
            trigger_id=request.trigger_id,
            params={"member": command.member, "dry_run": command.dry_run},
            destructive=not command.dry_run,
        )
    if isinstance(run, Refused):
        return Reply(f":warning: {run.reason}")
    what = "A dry run of the replacement" if command.dry_run else "Replacement"
    return Reply(
        f":wrench: {what} of `{command.member}` on *{cluster.name}* requested (run `{run.id}`): the plan, "
        f"the approvals and each step are posted here. Stop it with `/etcd cancel {run.id}`."
    )
