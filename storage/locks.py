"""One destructive run per cluster: a row in ``cluster_lock`` keyed by the cluster name.

Acquiring is an INSERT that either succeeds or hits the primary key, which is atomic on SQLite and
PostgreSQL alike — no check-then-insert race between two runners.
"""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, delete

from storage.db import writes
from storage.models import ClusterLock, utcnow


@writes
def acquire_cluster_lock(cluster: str, run_id: str, *, session: Session) -> bool:
    """Take the cluster's lock for ``run_id``; True if it now holds it (also when it already did)."""
    try:
        # A Core INSERT, not session.add: the loser must see the database's answer, not the identity map's.
        session.execute(insert(ClusterLock).values(cluster=cluster, run_id=run_id, acquired_at=utcnow()))
        session.commit()
    except IntegrityError:
        session.rollback()
        holder = session.get(ClusterLock, cluster, populate_existing=True)
        return holder is not None and holder.run_id == run_id
    return True


def cluster_lock_holder(cluster: str, *, session: Session) -> ClusterLock | None:
    """Who holds the cluster's lock, to tell the user which run they are waiting for."""
    return session.get(ClusterLock, cluster, populate_existing=True)


@writes
def release_cluster_lock(cluster: str, run_id: str, *, session: Session) -> bool:
    """Release the lock if ``run_id`` holds it; True if a lock was released."""
    result = session.exec(
        delete(ClusterLock).where(ClusterLock.cluster == cluster, ClusterLock.run_id == run_id)  # type: ignore[arg-type]
    )
    session.commit()
    return bool(result.rowcount)
