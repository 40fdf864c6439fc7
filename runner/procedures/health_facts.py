"""The facts a health report is classified from, gathered read-only through the Kube port.

It is ``/etcd status``'s gathering (called, not copied, so the report and the command never disagree)
plus what only the report needs: the CSRs still waiting for a decision, and the backend quota the
database sizes are measured against (the Etcd operator's ``spec.backendQuotaGiB`` when it is set,
OpenShift's 8 GiB otherwise). Classifying them is :func:`runner.health.classify`'s job.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from runner.health import DEFAULT_QUOTA_BYTES, GIB, HealthFacts, PendingCsr
from runner.ports import ApiUnreachable, Kube
from runner.procedures.csr import pending
from runner.procedures.status import gather_status
from storage import backups


def gather_health_facts(
    kube: Kube,
    cluster: str,
    now: dt.datetime,
    *,
    last_backup_at: Callable[[str], dt.datetime | None],
    quota_bytes: int | None = None,
) -> HealthFacts:
    """Status, pending CSRs and quota of one cluster. An unreachable API is a fact, not an exception;
    ``quota_bytes`` overrides what the cluster says (for clusters configured by other means)."""
    status = gather_status(kube, cluster, now, last_backup_at(cluster))
    if status.api_error:
        return HealthFacts(status, quota_bytes or DEFAULT_QUOTA_BYTES)
    try:
        csrs = tuple(_pending_csr(c) for c in kube.list("csr") if pending(c))
        csr_error = ""
    except ApiUnreachable as exc:
        csrs, csr_error = (), str(exc)
    return HealthFacts(status, quota_bytes or configured_quota(kube), pending_csrs=csrs, csr_error=csr_error)


def configured_quota(kube: Kube) -> int:
    """``spec.backendQuotaGiB`` of the Etcd operator resource, else OpenShift's default of 8 GiB."""
    try:
        spec = kube.get("etcd", "cluster").get("spec") or {}
    except ApiUnreachable:
        return DEFAULT_QUOTA_BYTES
    gib = spec.get("backendQuotaGiB")
    return int(gib) * GIB if isinstance(gib, int) and gib > 0 else DEFAULT_QUOTA_BYTES


def _pending_csr(csr: dict[str, Any]) -> PendingCsr:
    meta = csr.get("metadata") or {}
    created = str(meta.get("creationTimestamp") or "")
    when = dt.datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None
    return PendingCsr(str(meta.get("name", "")), when)


def verified_backup_lookup(sessions: Callable[[], Session]) -> Callable[[str], dt.datetime | None]:
    """When each cluster's newest verified backup was taken, from the catalog (one session per call,
    so concurrent gatherers do not share one)."""

    def lookup(cluster: str) -> dt.datetime | None:
        with sessions() as session:
            last = backups.latest_verified_backup(cluster, session=session)
        return last.taken_at if last else None

    return lookup
