"""``/etcd verify BACKUP [CLUSTER]``: restore a backup into a scratch etcd (never the cluster) and check it.

As with a restore, the catalog answers at once whether the backup exists, is this cluster's and still
kept; the check itself is a run (it downloads the files and starts etcd), posted in the channel.
"""

from __future__ import annotations

from bot.grammar import Verify
from handlers.deps import BotDeps, Reply, Request
from runner.submit import Refused, submit_run
from storage import backups
from storage.errors import NotFoundError


def handle(command: Verify, request: Request, deps: BotDeps) -> Reply:
    cluster = request.cluster(command.cluster, deps)
    with deps.sessions() as session:
        try:
            backup = backups.get_backup(command.backup, session=session)
        except NotFoundError:
            backup = None
        if backup is None or backup.cluster != cluster.name:
            return Reply(
                f":warning: *{cluster.name}* has no backup #{command.backup}. "
                f"`/etcd backups {cluster.name}` lists its backups; check one with `/etcd verify #N`."
            )
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
            params={"backup": command.backup},
        )
    if isinstance(run, Refused):
        return Reply(f":warning: {run.reason}")
    return Reply(
        f":test_tube: Verifying backup #{command.backup} of *{cluster.name}* in a scratch etcd "
        f"(run `{run.id}`); the result is posted here."
    )
