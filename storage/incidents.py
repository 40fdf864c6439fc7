"""Incidents group timeline events across runs and channels; several channels may follow one.

A channel's *active* incident is the newest open incident it follows; runs started from that channel
are filed under it, so the postmortem export finds them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.db import writes
from storage.errors import NotFoundError
from storage.models import Incident, IncidentChannel, Run, utcnow
from storage.timeline import add_event


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
    session.commit()
    return incident


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
