"""``/etcd verify BACKUP [CLUSTER]``: restore a backup into a scratch etcd (never the cluster) and check it.

As with a restore, the catalog answers at once whether the backup exists, is this cluster's and still
kept; the check itself is a run (it downloads the files and starts etcd), posted in the channel.
"""

from __future__ import annotations

from bot.grammar import Verify
from handlers.catalog import cluster_backup, no_such_backup
from handlers.deps import BotDeps, Reply, Request
from runner.submit import Refused, submit_run


def handle(command: Verify, request: Request, deps: BotDeps) -> Reply:
    cluster = request.cluster(command.cluster, deps)
    with deps.sessions() as session:
        backup = cluster_backup(command.backup, cluster.name, session=session)
        if backup is None:
            return no_such_backup(command.backup, cluster.name, "check one with `/etcd verify #N`")
        if backup.pruned_at is not None:
            return Reply(
                f":warning: Backup #{command.backup} of *{cluster.name}* was pruned by retention on "
                f"{backup.pruned_at:%Y-%m-%d %H:%M} UTC: its files are gone. `/etcd backups` lists the "
                "backups kept."
            )
        run = submit_run(
            session=session,
            procedure="verify",
            cluster=cluster.name,
            requested_by=request.user_id,
            channel=request.channel_id,
            trigger_id=request.trigger_id,
            params={"backup": command.backup},
        )
    if isinstance(run, Refused):
        return Reply(f":warning: {run.reason}")
    return Reply(
        f":test_tube: Verifying backup #{command.backup} of *{cluster.name}* in a scratch etcd "
        f"(run `{run.id}`); the result is posted here."
    )
