"""The Slack trigger of the command that requested a run: a command delivered twice (Slack's retry to
another replica after a slow or lost acknowledgement) finds its run instead of making a second one.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.add_column(sa.Column("trigger_id", sa.String(length=100), nullable=True))
        batch.create_index("uq_run_trigger_id", ["trigger_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.drop_index("uq_run_trigger_id")
        batch.drop_column("trigger_id")
