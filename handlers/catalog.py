"""What ``/etcd restore`` and ``/etcd verify`` both ask the catalog before recording anything: is ``#N`` a
backup of this cluster? A typo is told at once, with the way to list the backups."""

from __future__ import annotations

from sqlmodel import Session

from handlers.deps import Reply
from storage import backups
from storage.errors import NotFoundError
from storage.models import Backup


def cluster_backup(number: int, cluster: str, *, session: Session) -> Backup | None:
    """Backup ``#number`` if it is one of ``cluster``'s, else None."""
    try:
        backup = backups.get_backup(number, session=session)
    except NotFoundError:
        return None
    return backup if backup.cluster == cluster else None


def no_such_backup(number: int, cluster: str, then: str) -> Reply:
    return Reply(
        f":warning: *{cluster}* has no backup #{number}. `/etcd backups {cluster}` lists its backups; {then}."
    )
