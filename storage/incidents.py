"""Incidents group timeline events across runs and channels; several channels may follow one.

A channel's *active* incident is the newest open incident it follows; runs started from that channel
are filed under it, so the postmortem export finds them. A channel follows one open incident at a time
(``open`` and ``follow`` refuse a second), so nobody has to wonder where a run or a note went.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.db import writes
from storage.errors import NotFoundError
from storage.models import Incident, IncidentChannel, Run, TimelineEvent, utcnow
from storage.timeline import add_event

NOTE = "incident.note"
EXPORT_REQUESTED = "incident.export_requested"  # handled by the relay, which uploads the file


@writes
def open_incident(
    *,
    session: Session,
    title: str,
    opened_by: str,
    channel: str | None = None,
    cluster: str | None = None,
) -> Incident:
    """Open an incident, followed by the channel it was opened from."""
    incident = _stage_open(session, title, opened_by, channel, cluster)
    session.commit()
    return incident


@writes
def open_in_channel(
    *, session: Session, title: str, opened_by: str, channel: str, cluster: str | None = None
) -> tuple[Incident, bool]:
    """Open an incident from ``channel`` unless the channel already follows an open one.

    Returns the new incident and True, or the channel's open incident and False. Two people paged by
    the same alert and typing ``open`` in the same channel at once get one incident, not two: the check
    and the insert are one transaction holding the channel's lock.
    """
    _lock_channel(session, channel)
    current = active_incident_for_channel(channel, session=session)
    if current is not None:
        session.commit()
        return current, False
    incident = _stage_open(session, title, opened_by, channel, cluster)
    session.commit()
    return incident, True


def _stage_open(
    session: Session, title: str, opened_by: str, channel: str | None, cluster: str | None
) -> Incident:
    now = utcnow()
    incident = Incident(title=title, opened_by=opened_by, opened_at=now, cluster=cluster)
    session.add(incident)
    session.flush()
    assert incident.id is not None
    if channel is not None:
        session.add(
            IncidentChannel(incident_id=incident.id, channel=channel, followed_by=opened_by, followed_at=now)
        )
    add_event(
        session=session,
        kind="incident.opened",
        summary=f"{opened_by} opened incident {incident.id}: {title}",
        cluster=cluster,
        incident_id=incident.id,
        actor=opened_by,
        details={"channel": channel} if channel else {},
    )
    return incident


def _lock_channel(session: Session, channel: str) -> None:
    """Serialise incident changes of one channel (SQLite's write transaction already does)."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"incident-channel:{channel}".encode()).digest()[:8], "big") >> 1
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def get_incident(incident_id: int, *, session: Session) -> Incident:
    incident = session.get(Incident, incident_id, populate_existing=True)
    if incident is None:
        raise NotFoundError(f"no incident {incident_id}")
    return incident


@writes
def follow_incident(incident_id: int, channel: str, *, session: Session, followed_by: str) -> bool:
    """Have ``channel`` follow the incident; False if it already did."""
    incident = get_incident(incident_id, session=session)
    try:
        session.execute(
            insert(IncidentChannel).values(
                incident_id=incident_id, channel=channel, followed_by=followed_by, followed_at=utcnow()
            )
        )
        add_event(
            session=session,
            kind="incident.followed",
            summary=f"{followed_by} made {channel} follow incident {incident_id}",
            cluster=incident.cluster,
            incident_id=incident_id,
            actor=followed_by,
            details={"channel": channel},
        )
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True


def channels_following(incident_id: int, *, session: Session) -> Sequence[str]:
    statement = (
        select(IncidentChannel.channel)
        .where(IncidentChannel.incident_id == incident_id)
        .order_by(col(IncidentChannel.followed_at), col(IncidentChannel.channel))
    )
    return session.exec(statement).all()


@writes
def close_incident(incident_id: int, *, session: Session, closed_by: str) -> Incident:
    """Close the incident (idempotent: closing a closed incident keeps the first closer)."""
    incident = get_incident(incident_id, session=session)
    if incident.closed_at is not None:
        return incident
    incident.closed_at = utcnow()
    incident.closed_by = closed_by
    session.add(incident)
    add_event(
        session=session,
        kind="incident.closed",
        summary=f"{closed_by} closed incident {incident_id}",
        cluster=incident.cluster,
        incident_id=incident_id,
        actor=closed_by,
    )
    session.commit()
    return incident


def active_incident_for_channel(channel: str, *, session: Session) -> Incident | None:
    """The newest open incident the channel follows, if any."""
    statement = (
        select(Incident)
        .join(IncidentChannel, col(IncidentChannel.incident_id) == col(Incident.id))
        .where(IncidentChannel.channel == channel, col(Incident.closed_at).is_(None))
        .order_by(col(Incident.opened_at).desc(), col(Incident.id).desc())
        .execution_options(populate_existing=True)
    )
    return session.exec(statement).first()


@writes
def attach_run(run_id: str, incident_id: int, *, session: Session) -> Run:
    """File a run (and from then on its events) under an incident."""
    get_incident(incident_id, session=session)
    run = session.get(Run, run_id, populate_existing=True)
    if run is None:
        raise NotFoundError(f"no run {run_id!r}")
    run.incident_id = incident_id
    session.add(run)
    session.commit()
    return run


def followers(incident_id: int, *, session: Session) -> Sequence[IncidentChannel]:
    """The channels following the incident, with who made them follow and when, first first."""
    statement = (
        select(IncidentChannel)
        .where(IncidentChannel.incident_id == incident_id)
        .order_by(col(IncidentChannel.followed_at), col(IncidentChannel.channel))
    )
    return session.exec(statement).all()


def incident_runs(incident_id: int, *, session: Session) -> Sequence[Run]:
    """The runs filed under the incident, oldest first."""
    statement = (
        select(Run)
        .where(Run.incident_id == incident_id)
        .order_by(col(Run.created_at), col(Run.id))
        .execution_options(populate_existing=True)
    )
    return session.exec(statement).all()


def latest_incident_for_channel(channel: str, *, session: Session) -> Incident | None:
    """The channel's open incident, else the newest one it followed (to export right after closing)."""
    active = active_incident_for_channel(channel, session=session)
    if active is not None:
        return active
    statement = (
        select(Incident)
        .join(IncidentChannel, col(IncidentChannel.incident_id) == col(Incident.id))
        .where(IncidentChannel.channel == channel)
        .order_by(col(Incident.opened_at).desc(), col(Incident.id).desc())
        .execution_options(populate_existing=True)
    )
    return session.exec(statement).first()


@writes
def add_note(incident_id: int, text: str, *, session: Session, author: str, channel: str) -> TimelineEvent:
    """File a person's note under the incident. ``text`` should already be redacted."""
    incident = get_incident(incident_id, session=session)
    event = add_event(
        session=session,
        kind=NOTE,
        summary=text,
        cluster=incident.cluster,
        incident_id=incident_id,
        actor=author,
        details={"channel": channel},
    )
    session.commit()
    return event


@writes
def request_export(incident_id: int, *, session: Session, requested_by: str, channel: str) -> TimelineEvent:
    """Ask for the incident's Markdown timeline to be posted in ``channel``.

    Only an event: the relay sees it and uploads the file after the command was acked, so the export
    never holds up Slack's 3 seconds, and one asked for while Slack is down is posted when it is back.
    """
    get_incident(incident_id, session=session)
    event = add_event(
        session=session,
        kind=EXPORT_REQUESTED,
        summary=f"{requested_by} asked for the timeline of incident {incident_id} in {channel}",
        incident_id=incident_id,
        actor=requested_by,
        details={"channel": channel},
    )
    session.commit()
    return event
