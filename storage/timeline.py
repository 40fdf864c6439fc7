"""The append-only timeline: every run, step, approval, health change and note becomes an event.

Slack is only a view of this table. The relay reads ``events_since(cursor)`` and turns each event into
a message edit or a thread reply, so a Slack outage loses nothing. Other service functions add their
events with :func:`add_event` inside their own transaction, so a state change and its event are
committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import CompoundSelect, and_, or_, text, union
from sqlmodel import Session, col, select

from storage.db import writes
from storage.models import ChannelDefault, Incident, IncidentChannel, Run, TimelineEvent, utcnow

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
    """Everything that belongs in the incident's timeline, oldest first.

    That is the events filed under it (opening, follows, notes, closing), those of the runs attached to
    it (steps, approvals, outcomes), and the health changes (kinds ``health.*``) of its clusters while it
    was open. Its clusters are the incident's own, those of its runs, and the default clusters of the
    channels following it: a health change is seldom filed under an incident, yet it is often the
    first line of the postmortem.
    """
    incident = session.get(Incident, incident_id, populate_existing=True)
    if incident is None:
        return []
    run_ids = select(Run.id).where(Run.incident_id == incident_id)
    clusters: CompoundSelect[Any] = union(
        select(Run.cluster).where(Run.incident_id == incident_id),
        select(ChannelDefault.cluster)
        .join(IncidentChannel, col(IncidentChannel.channel) == col(ChannelDefault.channel))
        .where(IncidentChannel.incident_id == incident_id),
        select(Incident.cluster).where(Incident.id == incident_id, col(Incident.cluster).is_not(None)),
    )
    health = and_(
        col(TimelineEvent.kind).startswith("health."),
        col(TimelineEvent.cluster).in_(clusters),
        col(TimelineEvent.at) >= incident.opened_at,
    )
    if incident.closed_at is not None:
        health = and_(health, col(TimelineEvent.at) <= incident.closed_at)
    statement = (
        select(TimelineEvent)
        .where(
            or_(
                col(TimelineEvent.incident_id) == incident_id,
                col(TimelineEvent.run_id).in_(run_ids),
                health,
            )
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
