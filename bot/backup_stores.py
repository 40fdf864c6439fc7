"""Which backup store holds a cluster's backups, made from its clusters-file entry.

A backup's copy first lands in a folder on this machine: the local store itself (where it stays), or a
staging folder when the cluster's store is an S3 bucket (the upload step then puts both files there and
frees the staging copy). Retention and verification later find the store from each file's recorded
location, so a cluster whose store changed still prunes and verifies the backups kept in the old one.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bot.clusters import Cluster, ClustersFile, LocalStore, S3Store
from runner.adapters.local_store import LocalFolderStore
from runner.adapters.s3_store import S3BackupStore
from runner.stores import BackupStore, StoreError

S3_SCHEME = "s3://"


class BackupStores:
    """Stores per cluster, made on first use and shared (an S3 client is thread-safe)."""

    def __init__(self, clusters: ClustersFile, scratch: Path | None = None) -> None:
        self._clusters = clusters
        self._scratch = scratch or Path(tempfile.gettempdir()) / "etcdops"
        self._s3: dict[str, S3BackupStore] = {}

    def landing(self, name: str) -> Path:
        """Where a backup's files are copied off the master: ``<folder>/<run>`` under this."""
        store = self._clusters.get(name).backup_store
        if isinstance(store, LocalStore):
            return store.path / name
        return self._scratch / "staging" / name

    def offsite(self, name: str) -> BackupStore | None:
        """The cluster's S3 store, or None when backups stay in its local folder."""
        store = self._clusters.get(name).backup_store
        return self._bucket(store) if isinstance(store, S3Store) else None

    def holding(self, name: str, location: str) -> BackupStore:
        """The store a recorded file location is in (the cluster's S3 bucket, or its local folder)."""
        cluster = self._clusters.get(name)
        if location.startswith(S3_SCHEME):
            if not isinstance(cluster.backup_store, S3Store):
                raise StoreError(f"{location} is in S3, but {name}'s clusters-file entry has no S3 store now")
            return self._bucket(cluster.backup_store)
        return LocalFolderStore(_local_root(cluster, location))

    def _bucket(self, config: S3Store) -> S3BackupStore:
        key = f"{config.endpoint_url}|{config.bucket}|{config.prefix}"
        if key not in self._s3:
            self._s3[key] = S3BackupStore(config)
        return self._s3[key]


def _local_root(cluster: Cluster, location: str) -> Path:
    """The local store's root for a file: the configured folder when the file is in it, else the folder
    three levels up (``<root>/<cluster>/<run>/<file>``, or four for ``static-resources/``)."""
    if isinstance(cluster.backup_store, LocalStore) and Path(location).is_relative_to(
        cluster.backup_store.path
    ):
        return cluster.backup_store.path
    path = Path(location)
    parents = path.parents
    return parents[3] if path.parent.parent.parent.name == "static-resources" else parents[2]
