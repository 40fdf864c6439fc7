"""The backup catalog: what was taken, from where, and whether it was verified.

A restore picks its backup from here, so an entry records everything the restore preflight checks
(OpenShift version for the z-stream rule, both file names, the snapshot's own SHA-256) and where the
files are stored. Only backups whose verification passed count as restorable.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from sqlmodel import Session, col, select

from storage.db import writes
from storage.errors import NotFoundError
from storage.models import Backup, utcnow
from storage.timeline import add_event

VERIFY_OK = "ok"


@writes
def record_backup(
    *,
    session: Session,
    cluster: str,
    host: str,
    openshift_version: str,
    snapshot_size: int,
    snapshot_sha256: str,
    location: str,
    snapshot_name: str,
    taken_at: dt.datetime,
    resources_name: str | None = None,
    resources_size: int | None = None,
    etcd_revision: int | None = None,
    key_count: int | None = None,
    run_id: str | None = None,
    masters: Sequence[tuple[str, str]] = (),
    resources_location: str | None = None,
) -> Backup:
    """Add a catalog entry for a backup copied to the store (not yet verified). ``masters`` are the
    cluster's (node, address) pairs, which a later restore needs when the API no longer answers."""
    backup = Backup(
        masters=json.dumps([{"node": node, "ip": ip} for node, ip in masters]) if masters else None,
        cluster=cluster,
        host=host,
        openshift_version=openshift_version,
        snapshot_size=snapshot_size,
        snapshot_sha256=snapshot_sha256,
        location=location,
        resources_location=resources_location,
        snapshot_name=snapshot_name,
        resources_name=resources_name,
        resources_size=resources_size,
        etcd_revision=etcd_revision,
        key_count=key_count,
        taken_at=taken_at,
        run_id=run_id,
    )
    session.add(backup)
    session.flush()
    add_event(
        session=session,
        kind="backup.recorded",
        summary=f"backup {snapshot_name} of {cluster} from {host} stored at {location}",
        cluster=cluster,
        run_id=run_id,
        details={"backup_id": backup.id, "sha256": snapshot_sha256, "size": snapshot_size},
    )
    session.commit()
    return backup


def masters_of(backup: Backup) -> list[tuple[str, str]]:
    """The (node, address) pairs recorded with a backup (none for backups taken before they were)."""
    return [(str(m["node"]), str(m["ip"])) for m in json.loads(backup.masters or "[]")]


def file_locations(backup: Backup) -> list[str]:
    """Where the backup's files are: the snapshot, and the static-resources tarball (kept under its own
    location when etcd encryption is on)."""
    found = [f"{backup.location.rstrip('/')}/{backup.snapshot_name}"]
    if backup.resources_name:
        folder = backup.resources_location or backup.location
        found.append(f"{folder.rstrip('/')}/{backup.resources_name}")
    return found


def get_backup(backup_id: int, *, session: Session) -> Backup:
    backup = session.get(Backup, backup_id, populate_existing=True)
    if backup is None:
        raise NotFoundError(f"no backup {backup_id}")
    return backup


@writes
def record_verification(
    backup_id: int, *, session: Session, ok: bool, detail: str | None = None, now: dt.datetime | None = None
) -> Backup:
    """Store the result of re-checking the stored files (size and SHA-256); ``ok`` makes it restorable."""
    backup = get_backup(backup_id, session=session)
    backup.verified_at = now or utcnow()
    backup.verify_result = VERIFY_OK if ok else f"failed: {detail or 'unknown reason'}"
    session.add(backup)
    add_event(
        session=session,
        kind="backup.verified" if ok else "backup.verify_failed",
        summary=f"backup {backup.snapshot_name} of {backup.cluster} "
        + ("verified" if ok else backup.verify_result),
        cluster=backup.cluster,
        run_id=backup.run_id,
        details={"backup_id": backup.id},
    )
    session.commit()
    return backup


def list_backups(
    cluster: str, *, session: Session, limit: int = 100, include_pruned: bool = False
) -> Sequence[Backup]:
    """The cluster's backups, newest first (those pruned by retention only when asked)."""
    statement = select(Backup).where(Backup.cluster == cluster)
    if not include_pruned:
        statement = statement.where(col(Backup.pruned_at).is_(None))
    statement = statement.order_by(col(Backup.taken_at).desc(), col(Backup.id).desc()).limit(limit)
    return session.exec(statement).all()


def latest_verified_backup(cluster: str, *, session: Session) -> Backup | None:
    """The newest backup of the cluster whose verification passed (the default restore source)."""
    statement = (
        select(Backup)
        .where(Backup.cluster == cluster, Backup.verify_result == VERIFY_OK, col(Backup.pruned_at).is_(None))
        .order_by(col(Backup.taken_at).desc(), col(Backup.id).desc())
    )
    return session.exec(statement).first()


@writes
def mark_pruned(backup_id: int, *, session: Session, run_id: str, reason: str, now: dt.datetime) -> bool:
    """Record that retention removed the backup's files; False if it was already (a resumed run)."""
    backup = get_backup(backup_id, session=session)
    if backup.pruned_at is not None:
        return False
    backup.pruned_at, backup.pruned_by = now, run_id
    session.add(backup)
    add_event(
        session=session,
        kind="backup.pruned",
        summary=f"backup #{backup_id} ({backup.snapshot_name}) of {backup.cluster} pruned: {reason}",
        cluster=backup.cluster,
        run_id=run_id,
        details={"backup_id": backup_id, "reason": reason},
    )
    session.commit()
    return True
