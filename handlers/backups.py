"""``/etcd backups [CLUSTER]``: the backup catalog, newest first (read from the database only)."""

from __future__ import annotations

from bot.grammar import Backups
from handlers.deps import BotDeps, Reply, Request
from storage import backups
from storage.models import Backup

SHOWN = 15


def backup_line(entry: Backup) -> str:
    ok = entry.verify_result == backups.VERIFY_OK
    verified = ":white_check_mark: verified" if ok else f":x: {entry.verify_result or 'not verified'}"
    keys = entry.key_count if entry.key_count is not None else "?"
    revision = entry.etcd_revision if entry.etcd_revision is not None else "?"
    return (
        f"• *#{entry.id}* {entry.taken_at:%Y-%m-%d %H:%M} UTC from {entry.host} — OpenShift "
        f"{entry.openshift_version}, revision {revision}, {keys} keys, "
        f"{entry.snapshot_size / 2**20:.1f} MiB, sha256 `{entry.snapshot_sha256[:12]}…`, {verified}\n"
        f"   `{entry.location}/{entry.snapshot_name}`"
    )


def handle(command: Backups, request: Request, deps: BotDeps) -> Reply:
    cluster = request.cluster(command.cluster, deps)
    with deps.sessions() as session:
        entries = list(backups.list_backups(cluster.name, session=session, limit=SHOWN + 1))
    if not entries:
        return Reply(f"No backups of *{cluster.name}* yet: take one with `/etcd backup {cluster.name}`.")
    more = f"\n…and older ones (showing the newest {SHOWN})" if len(entries) > SHOWN else ""
    lines = "\n".join(backup_line(e) for e in entries[:SHOWN])
    return Reply(f"Backups of *{cluster.name}*, newest first:\n{lines}{more}")
