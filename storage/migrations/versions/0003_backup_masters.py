"""The masters (node and address) a backup saw: a restore reaches them over SSH when the API is down.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("backup") as batch:
        batch.add_column(sa.Column("masters", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("backup") as batch:
        batch.drop_column("masters")
