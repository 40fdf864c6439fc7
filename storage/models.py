"""The tables of etcdops, as sqlmodel classes.

| table              | what a row is                                                                  |
|--------------------|--------------------------------------------------------------------------------|
| ``run``            | one ``/etcd`` command being carried out (id like ``r-7k2p9``)                 |
| ``step_run``       | the journal: one step of a run, key ``(run_id, seq)``                         |
| ``approval``       | a request for N people to approve the destructive step ``seq`` of a run        |
| ``approval_vote``  | one person's approve/reject click; unique per (approval, user)                |
| ``backup``         | a catalog entry for a snapshot + static-resources pair taken from a cluster    |
| ``timeline_event`` | append-only history; its integer id is the relay's cursor                      |
| ``incident``       | a named group of events across runs and channels                               |
| ``incident_channel`` | a channel following an incident (several may)                               |
| ``cluster_lock``   | the one destructive run a cluster may have at a time                           |
| ``channel_default``| the cluster a channel's commands target when none is named                    |
| ``relay_cursor``   | how far a reader (the Slack relay) has got in the timeline                     |
| ``schedule``       | a cron schedule (backup, verify or health report); its job is APScheduler's   |
| ``scheduler_lease``| which process fires scheduled jobs now (one at a time, across processes)      |
| ``health_state``   | the last health signature reported per cluster, so a change is told once      |
| ``apscheduler_jobs`` | APScheduler's job store (its own layout; created by migration 0004)          |

Timestamps are stored through :class:`UTCDateTime`, so they come back timezone-aware in UTC on both
SQLite (which has no time zones) and PostgreSQL. Status and kind values are plain strings (with the
allowed values in the ``*Status`` classes) so that adding one never needs a database enum migration.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Table,
    Text,
    Unicode,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that refuses naive values going in and is always UTC-aware coming out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the database; use an aware UTC time")
        value = value.astimezone(dt.UTC)
        # SQLite has no time zone type: store naive UTC and re-attach UTC when reading.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _ts(*, nullable: bool, index: bool = False) -> Any:
    """A fresh timestamp column (a Column object cannot be shared between tables)."""
    return Column(UTCDateTime(), nullable=nullable, index=index)


def _json() -> Any:
    return Column(JSON(), nullable=False)


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING_APPROVAL = "waiting_approval"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_RUN_STATUSES = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.WAITING_APPROVAL)
FINISHED_RUN_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class StepStatus(StrEnum):
    PENDING = "pending"
    STARTED = "started"  # started and not (yet) recorded finished: the runner must probe live state
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class ApprovalAction(StrEnum):
    MEMBER_REMOVAL = "member_removal"
    SECRET_DELETION = "secret_deletion"  # noqa: S105  (an action name, not a secret)
    MACHINE_DELETION = "machine_deletion"
    RESTORE = "restore"
    CSR_APPROVAL = "csr_approval"


class VoteDecision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class Incident(SQLModel, table=True):
    __tablename__ = "incident"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(sa_column=Column(String(200), nullable=False))
    cluster: str | None = Field(default=None, max_length=100)
    opened_by: str = Field(max_length=64)
    opened_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    closed_by: str | None = Field(default=None, max_length=64)
    closed_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class IncidentChannel(SQLModel, table=True):
    __tablename__ = "incident_channel"

    incident_id: int = Field(foreign_key="incident.id", primary_key=True, ondelete="CASCADE")
    channel: str = Field(primary_key=True, max_length=64)
    followed_by: str = Field(max_length=64)
    followed_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class Run(SQLModel, table=True):
    __tablename__ = "run"
    __table_args__ = (
        Index("ix_run_status_created_at", "status", "created_at"),
        # A scheduled firing enqueues at most one run, whichever process fires it and however often.
        UniqueConstraint("schedule_id", "scheduled_for", name="uq_run_schedule_firing"),
        # A slash command delivered twice (to two replicas) records one run.
        Index("uq_run_trigger_id", "trigger_id", unique=True),
    )

    id: str = Field(primary_key=True, max_length=16)
    procedure: str = Field(max_length=50)
    cluster: str = Field(max_length=100, index=True)
    requested_by: str = Field(max_length=64)
    channel: str | None = Field(default=None, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    status: str = Field(default=RunStatus.PENDING, max_length=20)
    destructive: bool = False
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    started_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    finished_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    claimed_by: str | None = Field(default=None, max_length=100)
    lease_until: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))
    result: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))
    cancelled_by: str | None = Field(default=None, max_length=64)
    plan_hash: str | None = Field(default=None, max_length=64)
    slack_ts: str | None = Field(default=None, max_length=32)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", ondelete="SET NULL")
    schedule_id: str | None = Field(default=None, max_length=16)
    scheduled_for: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    trigger_id: str | None = Field(default=None, max_length=100)  # the Slack command's, when one asked


class StepRun(SQLModel, table=True):
    __tablename__ = "step_run"

    run_id: str = Field(foreign_key="run.id", primary_key=True, max_length=16, ondelete="CASCADE")
    seq: int = Field(primary_key=True)
    step_id: str = Field(max_length=100)
    title: str = Field(sa_column=Column(String(300), nullable=False))
    status: str = Field(default=StepStatus.PENDING, max_length=20)
    attempt: int = 0
    destructive: bool = False
    started_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    finished_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    output: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))


class Approval(SQLModel, table=True):
    __tablename__ = "approval"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="run.id", max_length=16, index=True, ondelete="CASCADE")
    seq: int
    action: str = Field(max_length=40)
    plan_hash: str = Field(max_length=64)
    required: int = 2
    requested_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    expires_at: dt.datetime = Field(sa_column=_ts(nullable=False))
    slack_ts: str | None = Field(default=None, max_length=32)
    voided_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    void_reason: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))


class ApprovalVote(SQLModel, table=True):
    __tablename__ = "approval_vote"
    __table_args__ = (UniqueConstraint("approval_id", "user", name="uq_approval_vote_approval_user"),)

    id: int | None = Field(default=None, primary_key=True)
    approval_id: int = Field(foreign_key="approval.id", ondelete="CASCADE")
    user: str = Field(max_length=64)
    decision: str = Field(max_length=10)
    at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class Backup(SQLModel, table=True):
    __tablename__ = "backup"

    id: int | None = Field(default=None, primary_key=True)
    cluster: str = Field(max_length=100, index=True)
    host: str = Field(max_length=255)
    openshift_version: str = Field(max_length=50)
    etcd_revision: int | None = Field(default=None, sa_column=Column(BigInteger(), nullable=True))
    key_count: int | None = Field(default=None, sa_column=Column(BigInteger(), nullable=True))
    snapshot_size: int = Field(sa_column=Column(BigInteger(), nullable=False))
    snapshot_sha256: str = Field(max_length=64)
    resources_size: int | None = Field(default=None, sa_column=Column(BigInteger(), nullable=True))
    location: str = Field(sa_column=Column(Text(), nullable=False))
    snapshot_name: str = Field(max_length=255)
    resources_name: str | None = Field(default=None, max_length=255)
    taken_at: dt.datetime = Field(sa_column=_ts(nullable=False))
    run_id: str | None = Field(default=None, foreign_key="run.id", max_length=16, ondelete="SET NULL")
    verified_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    verify_result: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))
    # JSON [{"node", "ip"}]: every master when the backup was taken, for a restore with the API down
    masters: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))
    # Where the static-resources tarball is when it is not beside the snapshot (etcd encryption on).
    resources_location: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))
    pruned_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    pruned_by: str | None = Field(default=None, max_length=16)  # the prune run that removed the files


class TimelineEvent(SQLModel, table=True):
    __tablename__ = "timeline_event"

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    cluster: str | None = Field(default=None, max_length=100, index=True)
    run_id: str | None = Field(default=None, foreign_key="run.id", max_length=16, index=True)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    kind: str = Field(max_length=50)
    actor: str | None = Field(default=None, max_length=100)
    summary: str = Field(sa_column=Column(Text(), nullable=False))
    details: dict[str, Any] = Field(default_factory=dict, sa_column=_json())


class ClusterLock(SQLModel, table=True):
    __tablename__ = "cluster_lock"

    cluster: str = Field(primary_key=True, max_length=100)
    run_id: str = Field(
        sa_column=Column(String(16), ForeignKey("run.id", ondelete="CASCADE"), nullable=False)
    )
    acquired_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class ChannelDefault(SQLModel, table=True):
    __tablename__ = "channel_default"

    channel: str = Field(primary_key=True, max_length=64)
    cluster: str = Field(max_length=100)
    set_by: str | None = Field(default=None, max_length=64)
    set_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class RelayCursor(SQLModel, table=True):
    """The id of the last timeline event a reader has handled, so a restart neither repeats nor skips."""

    __tablename__ = "relay_cursor"

    name: str = Field(primary_key=True, max_length=64)
    position: int = Field(default=0, sa_column=Column(BigInteger(), nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class ScheduleKind(StrEnum):
    BACKUP = "backup"
    VERIFY = "verify"
    HEALTH = "health"


class Schedule(SQLModel, table=True):
    """What a person scheduled; the APScheduler job with the same id holds the next firing time."""

    __tablename__ = "schedule"

    id: str = Field(primary_key=True, max_length=16)
    kind: str = Field(max_length=20)
    cron: str = Field(max_length=100)
    cluster: str = Field(max_length=100)  # a cluster name, or "all" for a health report over every one
    channel: str | None = Field(default=None, max_length=64)
    created_by: str = Field(max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class SchedulerLease(SQLModel, table=True):
    __tablename__ = "scheduler_lease"

    name: str = Field(primary_key=True, max_length=50)
    holder: str = Field(max_length=100)
    expires_at: dt.datetime = Field(sa_column=_ts(nullable=False))


class HealthState(SQLModel, table=True):
    __tablename__ = "health_state"

    cluster: str = Field(primary_key=True, max_length=100)
    signature: str = Field(sa_column=Column(Text(), nullable=False))
    level: str = Field(max_length=10)
    changed_at: dt.datetime = Field(sa_column=_ts(nullable=False))
    checked_at: dt.datetime = Field(sa_column=_ts(nullable=False))


# APScheduler 3's SQLAlchemyJobStore table, declared here so that the schema (and Alembic) is ours: the
# job store is pointed at this very table and never creates or alters it.
APSCHEDULER_JOBS = Table(
    "apscheduler_jobs",
    SQLModel.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
