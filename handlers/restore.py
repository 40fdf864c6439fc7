"""``/etcd restore BACKUP [CLUSTER] [--recovery-host NODE] [--dry-run] [--override-quorum]`` (seed 3.3).

Only what can be answered from the catalog is checked here (the backup exists and is this cluster's), so
a typo is told at once and records nothing; everything else — versions, files, SSH, quorum — is the run's
preflight, posted in the channel before anyone is asked to approve.
"""

from __future__ import annotations

from bot.grammar import Restore
from handlers.catalog import cluster_backup, no_such_backup
from handlers.deps import BotDeps, Reply, Request
from runner.submit import Refused, submit_run


def handle(command: Restore, request: Request, deps: BotDeps) -> Reply:
    cluster = request.cluster(command.cluster, deps)
    with deps.sessions() as session:
        if cluster_backup(command.backup, cluster.name, session=session) is None:
            return no_such_backup(
                command.backup, cluster.name, f"restore one with `/etcd restore #N {cluster.name}`"
            )
        run = submit_run(
            session=session,
            procedure="restore",
            cluster=cluster.name,
            requested_by=request.user_id,
            channel=request.channel_id,
            trigger_id=request.trigger_id,
            params={
                "backup": command.backup,
                "recovery_host": command.recovery_host,
                "dry_run": command.dry_run,
                "override_quorum": command.override_quorum,
            },
            destructive=not command.dry_run,
        )
    if isinstance(run, Refused):
        return Reply(f":warning: {run.reason}")
    what = "A dry run of the restore" if command.dry_run else "Restore"
    return Reply(
        f":rotating_light: {what} of *{cluster.name}* from backup #{command.backup} requested "
        f"(run `{run.id}`): the preflight, the plan, the approval and each step are posted here. "
        f"Stop it with `/etcd cancel {run.id}` (before the approval, nothing is touched)."
    )
