"""The append-only timeline: every run, step, approval and note becomes an event.

Slack is only a view of this table. The relay reads ``events_since(cursor)`` and turns each event into
a message edit or a thread reply, so a Slack outage loses nothing. Other service functions add their
events with :func:`add_event` inside their own transaction, so a state change and its event are
committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from storage.db import writes
from storage.models import Run, TimelineEvent, utcnow

# An arbitrary constant naming the advisory lock that orders timeline inserts on PostgreSQL.
TIMELINE_LOCK_KEY = 0x65746364_6F707331 & 0x7FFFFFFFFFFFFFFF


def add_event(
    *,
    session: Session,
    kind: str,
    summary: str,
    cluster: str | None = None,
    run_id: str | None = None,
    incident_id: int | None = None,
    actor: str | None = None,
    details: dict[str, Any] | None = None,
) -> TimelineEvent:
    """Stage an event in the caller's transaction (no commit).

    On PostgreSQL the transaction first takes a transaction-scoped advisory lock, held until commit, so
    event ids become visible in id order: a sequence alone hands out ids at insert time, and a slow
    transaction committing id 5 after id 6 was already read would be skipped by the relay's cursor.
    Everything the transaction changed so far is flushed before, so this lock is always taken last
    and cannot deadlock with row locks. (SQLite has a single writer, so ids are in commit order anyway.)
    """
    if session.get_bind().dialect.name == "postgresql":
        session.flush()
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": TIMELINE_LOCK_KEY})
    event = TimelineEvent(
        at=utcnow(),
        kind=kind,
        summary=summary,
        cluster=cluster,
        run_id=run_id,
        incident_id=incident_id,
        actor=actor,
        details=dict(details or {}),
    )
    session.add(event)
    return event


@writes
def append_event(
    *,
    session: Session,
    kind: str,
    summary: str,
    cluster: str | None = None,
    run_id: str | None = None,
    incident_id: int | None = None,
    actor: str | None = None,
    details: dict[str, Any] | None = None,
) -> TimelineEvent:
    """Append one event and commit it (notes, health changes, anything not tied to another write)."""
    event = add_event(
        session=session,
        kind=kind,
        summary=summary,
        cluster=cluster,
        run_id=run_id,
        incident_id=incident_id,
        actor=actor,
        details=details,
    )
    session.commit()
    return event


def events_for_run(run_id: str, *, session: Session) -> Sequence[TimelineEvent]:
    statement = select(TimelineEvent).where(TimelineEvent.run_id == run_id).order_by(col(TimelineEvent.id))
    return session.exec(statement).all()


def events_for_incident(incident_id: int, *, session: Session) -> Sequence[TimelineEvent]:
    """Events filed under the incident, plus those of the runs attached to it."""
    run_ids = select(Run.id).where(Run.incident_id == incident_id)
    statement = (
        select(TimelineEvent)
        .where(
            (col(TimelineEvent.incident_id) == incident_id) | col(TimelineEvent.run_id).in_(run_ids),
        )
        .order_by(col(TimelineEvent.id))
    )
    return session.exec(statement).all()


def events_since(cursor: int, *, session: Session, limit: int = 500) -> Sequence[TimelineEvent]:
    """Events with an id greater than ``cursor``, oldest first: the relay's "what is new" query."""
    statement = (
        select(TimelineEvent)
        .where(col(TimelineEvent.id) > cursor)
        .order_by(col(TimelineEvent.id))
        .limit(limit)
    )
    return session.exec(statement).all()
