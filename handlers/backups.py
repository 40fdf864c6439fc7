"""``/etcd backups [CLUSTER]``: the backup catalog, newest first (read from the database only)."""

from __future__ import annotations

from bot.grammar import Backups
from handlers.deps import BotDeps, Reply, Request
from runner.verification import zstream_flag
from storage import backups
from storage.models import Backup

SHOWN = 15


def backup_line(entry: Backup, newest_version: str | None = None) -> str:
    """One catalog entry; ``newest_version`` is the OpenShift version of the cluster's newest backup,
    against which an older z-stream is flagged (a restore needs the very same version)."""
    ok = entry.verify_result == backups.VERIFY_OK
    checked = f" {entry.verified_at:%m-%d %H:%M}" if entry.verified_at else ""
    failed = f":x: {entry.verify_result or 'not verified'}"
    verified = f":white_check_mark: verified{checked}" if ok else failed
    flag = zstream_flag(entry.openshift_version, newest_version) if newest_version else None
    if flag:
        verified += f"\n   :warning: {flag}"
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
    newest = entries[0].openshift_version
    lines = "\n".join(backup_line(e, newest) for e in entries[:SHOWN])
    return Reply(f"Backups of *{cluster.name}*, newest first:\n{lines}{more}")
