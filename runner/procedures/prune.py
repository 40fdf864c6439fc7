"""The retention run: which backups the cluster's policy lets go, then their files removed and the catalog
marked — a run like any other, so the channel and the timeline show what was pruned and why.

It runs after every backup (a cluster with a policy never grows past it for long) and on
``/etcd prune``. Both steps are safe to redo after a crash: deleting a file that is gone is a no-op, and
a backup already marked pruned is left as it is. The plan is made from the catalog as it is when the
run starts; the newest verified backup is never in it (see :mod:`runner.retention`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from runner.retention import CatalogEntry, RetentionPolicy, duration_text, plan_pruning
from runner.steps import StepContext, StepFailed, StepSpec
from runner.stores import BackupStore, StoreError
from storage import backups
from storage.db import SessionFactory


class PruneProcedure:
    name = "prune"
    destructive = False
    adaptive = False

    def __init__(
        self,
        policy: Callable[[str], RetentionPolicy | None],
        store: Callable[[str, str], BackupStore],
        sessions: SessionFactory,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._policy = policy
        self._store = store  # (cluster, a file's location) → the store holding it
        self._sessions = sessions
        self._now = now

    def steps(self, context: StepContext) -> list[StepSpec]:
        def plan_step(ctx: StepContext) -> dict[str, Any]:
            policy = self._policy(ctx.cluster)
            if policy is None or policy.unlimited:
                return {"prune": [], "reasons": {}, "kept": None, "policy": "none"}
            with self._sessions() as session:
                catalog = backups.list_backups(ctx.cluster, session=session, limit=100_000)
                entries = [
                    CatalogEntry(
                        id=b.id or 0,
                        taken_at=b.taken_at,
                        size=b.snapshot_size + (b.resources_size or 0),
                        verified=b.verify_result == backups.VERIFY_OK,
                    )
                    for b in catalog
                ]
            pruning = plan_pruning(entries, policy, self._now())
            return {
                "prune": list(pruning.prune),
                "reasons": {str(k): v for k, v in pruning.reasons.items()},
                "kept": len(pruning.keep),
                "policy": _describe(policy),
            }

        def remove_step(ctx: StepContext) -> dict[str, Any]:
            plan = ctx.results["plan"]
            removed: list[int] = []
            failures: list[str] = []
            for backup_id in plan["prune"]:
                with self._sessions() as session:
                    backup = backups.get_backup(backup_id, session=session)
                    locations = backups.file_locations(backup)
                try:
                    for location in locations:
                        self._store(ctx.cluster, location).delete(location)
                except StoreError as exc:
                    failures.append(f"#{backup_id}: {exc}")
                    continue
                with self._sessions() as session:
                    backups.mark_pruned(
                        backup_id,
                        session=session,
                        run_id=ctx.run_id,
                        reason=plan["reasons"].get(str(backup_id), "retention"),
                        now=self._now(),
                    )
                removed.append(backup_id)
            if failures:
                raise StepFailed("could not remove " + "; ".join(failures), retryable=True)
            return {"removed": removed}

        return [
            StepSpec("plan", "Apply the retention policy to the catalog", plan_step),
            StepSpec("remove", "Remove the pruned backups' files and mark them in the catalog", remove_step),
        ]

    def summary(self, context: StepContext) -> str:
        plan = context.results.get("plan", {})
        if plan.get("policy") == "none":
            return f"{context.cluster} has no retention policy (`retention:` in the clusters file): kept all"
        removed = context.results.get("remove", {}).get("removed", [])
        if not removed:
            return f"nothing to prune ({plan.get('policy', '')}; {plan.get('kept', '?')} backups kept)"
        listed = ", ".join(f"#{i} ({plan.get('reasons', {}).get(str(i), 'retention')})" for i in removed)
        return (
            f"pruned {len(removed)} backup(s): {listed}; {plan.get('kept', '?')} kept ({plan.get('policy')})"
        )


def _describe(policy: RetentionPolicy) -> str:
    parts = []
    if policy.keep_last is not None:
        parts.append(f"keep the last {policy.keep_last}")
    if policy.max_age is not None:
        parts.append(f"at most {duration_text(policy.max_age)} old")
    if policy.max_total_bytes is not None:
        parts.append(f"at most {policy.max_total_bytes / 2**30:.1f} GiB in all")
    return ", ".join(parts) + "; the newest verified backup is always kept"
