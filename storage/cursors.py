"""Readers' positions in the timeline (the Slack relay's, for one): saved after each batch it handles.

A reader that restarts picks up after the last event it finished with, so a bot restart neither posts a
run's messages twice nor skips the steps that happened while it was down.
"""

from __future__ import annotations

from sqlmodel import Session

from storage.db import writes
from storage.models import RelayCursor, utcnow


def cursor_position(name: str, *, session: Session) -> int:
    """Where the reader ``name`` stands (0: it has handled nothing yet)."""
    row = session.get(RelayCursor, name, populate_existing=True)
    return row.position if row else 0


@writes
def save_cursor(name: str, position: int, *, session: Session) -> None:
    """Move the reader ``name`` forward to ``position`` (never backwards)."""
    row = session.get(RelayCursor, name, populate_existing=True)
    if row is None:
        row = RelayCursor(name=name, position=position)
    row.position = max(row.position, position)
    row.updated_at = utcnow()
    session.add(row)
    session.commit()
