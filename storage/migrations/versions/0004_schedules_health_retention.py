"""Schedules (with APScheduler's job store and the lease that makes one process fire them), the last
reported health per cluster, scheduled firings on runs, and pruning and off-site locations on backups.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.add_column(sa.Column("schedule_id", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True))
        batch.create_unique_constraint("uq_run_schedule_firing", ["schedule_id", "scheduled_for"])
    with op.batch_alter_table("backup") as batch:
        batch.add_column(sa.Column("resources_location", sa.Text(), nullable=True))
        batch.add_column(sa.Column("pruned_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("pruned_by", sa.String(length=16), nullable=True))
    op.create_table(
        "schedule",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("cron", sa.String(length=100), nullable=False),
        sa.Column("cluster", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "scheduler_lease",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "health_state",
        sa.Column("cluster", sa.String(length=100), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("cluster"),
    )
    # APScheduler 3's SQLAlchemyJobStore layout (it would create this itself; here the schema is ours).
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(length=191), nullable=False),
        sa.Column("next_run_time", sa.Float(precision=25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_apscheduler_jobs_next_run_time", "apscheduler_jobs", ["next_run_time"])


def downgrade() -> None:
    op.drop_index("ix_apscheduler_jobs_next_run_time", table_name="apscheduler_jobs")
    op.drop_table("apscheduler_jobs")
    op.drop_table("health_state")
    op.drop_table("scheduler_lease")
    op.drop_table("schedule")
    with op.batch_alter_table("backup") as batch:
        batch.drop_column("pruned_by")
        batch.drop_column("pruned_at")
        batch.drop_column("resources_location")
    with op.batch_alter_table("run") as batch:
        batch.drop_constraint("uq_run_schedule_firing", type_="unique")
        batch.drop_column("scheduled_for")
        batch.drop_column("schedule_id")
