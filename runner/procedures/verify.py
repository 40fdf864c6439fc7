"""``/etcd verify BACKUP`` and the scheduled check: is a stored backup really restorable?

The files are fetched back from the store they were recorded in (so a damaged off-site object is
found, not the good copy it was made from), their size and SHA-256 compared with the catalog, and the
snapshot restored into a scratch etcd on this machine — never the cluster — which must start and serve
the revision and keys the catalog recorded (:mod:`runner.verification`). The result is recorded in the
catalog, so ``/etcd backups`` shows it and a restore never picks a backup that failed.

Everything happens in one step that may simply be run again after a crash: it only reads the store
and writes to a scratch folder it removes.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.ports import ApiUnreachable, Kube
from runner.steps import StepContext, StepFailed, StepSpec
from runner.stores import BackupStore, StoreError
from runner.verification import CatalogFacts, FileFacts, ScratchFacts, judge, zstream_flag
from storage import backups
from storage.db import SessionFactory
from storage.errors import NotFoundError
from storage.models import Backup

LATEST = "latest"


class VerifyProcedure:
    name = "verify"
    destructive = False
    adaptive = False

    def __init__(
        self,
        store: Callable[[str, str], BackupStore],
        kube: Callable[[str], Kube],
        sessions: SessionFactory,
        restore: Callable[[Path, Path], ScratchFacts],
        scratch: Path | None = None,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._store = store  # (cluster, a file's location) → the store holding it
        self._kube = kube
        self._sessions = sessions
        self._restore = restore  # (snapshot, work folder) → what a scratch etcd made of it
        self._scratch = scratch
        self._now = now

    def _backup(self, ctx: StepContext) -> Backup:
        wanted = ctx.params.get("backup", LATEST)
        with self._sessions() as session:
            if wanted == LATEST:
                found = backups.list_backups(ctx.cluster, session=session, limit=1)
                if not found:
                    raise StepFailed(f"{ctx.cluster} has no backup to verify yet: take one with /etcd backup")
                return found[0]
            try:
                backup = backups.get_backup(int(wanted), session=session)
            except NotFoundError as exc:
                raise StepFailed(f"there is no backup #{wanted}; /etcd backups lists them") from exc
        if backup.cluster != ctx.cluster:
            raise StepFailed(f"backup #{wanted} is a backup of {backup.cluster}, not {ctx.cluster}")
        if backup.pruned_at is not None:
            raise StepFailed(f"backup #{wanted} was pruned by retention on {backup.pruned_at:%Y-%m-%d}")
        return backup

    def _cluster_version(self, cluster: str) -> str | None:
        try:
            version = self._kube(cluster).get("clusterversion", "version")
        except ApiUnreachable:
            return None
        return str(((version.get("status") or {}).get("desired") or {}).get("version") or "") or None

    def steps(self, context: StepContext) -> list[StepSpec]:
        def verify(ctx: StepContext) -> dict[str, Any]:
            backup = self._backup(ctx)
            assert backup.id is not None
            snapshot_at, *others = backups.file_locations(backup)
            folder = Path(tempfile.mkdtemp(prefix=f"etcdops-verify-{ctx.run_id}-", dir=self._scratch))
            try:
                try:
                    fetched = self._store(ctx.cluster, snapshot_at).fetch(
                        snapshot_at, folder / backup.snapshot_name
                    )
                    missing = [o for o in others if self._store(ctx.cluster, o).stat(o) is None]
                except StoreError as exc:
                    if not exc.retryable:
                        self._record(
                            backup, ok=False, detail=f"the store could not give the files back: {exc}"
                        )
                    raise StepFailed(str(exc), retryable=exc.retryable) from exc
                scratch = self._restore(folder / backup.snapshot_name, folder)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            verdict = judge(
                CatalogFacts(
                    backup.snapshot_sha256, backup.snapshot_size, backup.etcd_revision, backup.key_count
                ),
                FileFacts(fetched.sha256, fetched.size),
                scratch,
            )
            reason = verdict.reason
            ok = verdict.ok and not missing
            if missing:
                reason = f"the static-resources tarball is missing from the store ({', '.join(missing)})"
            flag = zstream_flag(backup.openshift_version, self._cluster_version(ctx.cluster))
            self._record(backup, ok=ok, detail=reason)
            result = {
                "backup_id": backup.id,
                "ok": ok,
                "reason": reason,
                "revision": scratch.revision,
                "live_keys": scratch.live_keys,
                "seconds": round(scratch.seconds, 1),
                "zstream": flag,
            }
            if not ok:
                raise StepFailed(f"backup #{backup.id} failed verification: {reason}")
            return result

        return [
            StepSpec(
                "verify",
                "Fetch the backup from its store, check it, restore it in a scratch etcd and count its keys",
                verify,
                attempts=2,
            )
        ]

    def _record(self, backup: Backup, *, ok: bool, detail: str) -> None:
        with self._sessions() as session:
            backups.record_verification(
                backup.id or 0, session=session, ok=ok, detail=detail, now=self._now()
            )

    def summary(self, context: StepContext) -> str:
        result = context.results.get("verify", {})
        text = (
            f"backup #{result.get('backup_id', '?')} is restorable: {result.get('reason', '')} "
            f"({result.get('seconds', '?')} s in a scratch etcd)"
        )
        if result.get("zstream"):
            text += f". Note: {result['zstream']}"
        return text
