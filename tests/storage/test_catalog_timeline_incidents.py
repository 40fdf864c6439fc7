"""The backup catalog, the timeline cursor the relay reads, incidents and channel defaults."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from storage import backups, channels, incidents, runs, timeline
from storage.models import utcnow

SHA = "9a" * 32


def _backup(session: Session, cluster: str, taken_at: dt.datetime, name: str) -> int:
    backup = backups.record_backup(
        session=session,
        cluster=cluster,
        host="master-0",
        openshift_version="4.14.12",
        snapshot_size=6 * 1024**3,  # bigger than a 32-bit integer
        snapshot_sha256=SHA,
        location=f"file:///backups/{cluster}/{name}",
        snapshot_name=f"snapshot_{name}.db",
        resources_name=f"static_kuberesources_{name}.tar.gz",
        resources_size=81_920,
        etcd_revision=2**40,
        key_count=12_345,
        taken_at=taken_at,
    )
    assert backup.id is not None
    return backup.id


def test_backup_catalog(session: Session) -> None:
    now = utcnow()
    old = _backup(session, "prod", now - dt.timedelta(days=2), "old")
    new = _backup(session, "prod", now - dt.timedelta(hours=1), "new")
    _backup(session, "stage", now, "other")
    assert [b.id for b in backups.list_backups("prod", session=session)] == [new, old]
    assert backups.latest_verified_backup("prod", session=session) is None
    backups.record_verification(old, session=session, ok=True)
    backups.record_verification(new, session=session, ok=False, detail="sha256 mismatch")
    latest = backups.latest_verified_backup("prod", session=session)
    assert latest is not None and latest.id == old
    assert latest.snapshot_size == 6 * 1024**3 and latest.etcd_revision == 2**40
    assert latest.verified_at is not None and latest.verified_at.tzinfo is not None
    assert backups.get_backup(new, session=session).verify_result == "failed: sha256 mismatch"


def test_events_since_gives_what_is_new_in_order(session: Session) -> None:
    run = runs.create_run(session=session, procedure="status", cluster="prod", requested_by="U1")
    first = timeline.events_since(0, session=session)
    assert [e.kind for e in first] == ["run.requested"]
    cursor = first[-1].id
    assert cursor is not None
    timeline.append_event(
        session=session, kind="note", summary="looking at master-2", actor="U1", run_id=run.id
    )
    runs.claim_next_run(session=session, worker="w", lease_seconds=10)
    new = timeline.events_since(cursor, session=session)
    assert [e.kind for e in new] == ["note", "run.started"]
    ids = [e.id or 0 for e in new]
    assert ids == sorted(ids) and all(i > cursor for i in ids)
    assert timeline.events_since(ids[-1], session=session) == []
    assert len(timeline.events_since(0, session=session, limit=2)) == 2


def test_event_details_json_and_aware_timestamps(session: Session) -> None:
    details = {"members": ["m-0", "m-1"], "quorum": True, "revision": 2**40, "note": "ünïcode ✓", "x": None}
    event = timeline.append_event(session=session, kind="health.changed", summary="degraded", details=details)
    [read] = timeline.events_since((event.id or 1) - 1, session=session)
    assert read.details == details
    assert read.at.utcoffset() == dt.timedelta(0)


def test_incident_lifecycle(session: Session) -> None:
    incident = incidents.open_incident(
        session=session, title="etcd quorum lost", opened_by="U1", channel="C-ops"
    )
    assert incident.id is not None
    assert incidents.follow_incident(incident.id, "C-war-room", session=session, followed_by="U2")
    assert not incidents.follow_incident(incident.id, "C-war-room", session=session, followed_by="U3")
    assert sorted(incidents.channels_following(incident.id, session=session)) == ["C-ops", "C-war-room"]
    active = incidents.active_incident_for_channel("C-war-room", session=session)
    assert active is not None and active.id == incident.id
    assert incidents.active_incident_for_channel("C-elsewhere", session=session) is None

    in_incident = runs.create_run(
        session=session, procedure="restore", cluster="prod", requested_by="U1", incident_id=incident.id
    )
    later = runs.create_run(session=session, procedure="status", cluster="prod", requested_by="U1")
    incidents.attach_run(later.id, incident.id, session=session)
    runs.claim_next_run(session=session, worker="w", lease_seconds=10)
    timeline.append_event(session=session, kind="unrelated", summary="other cluster")

    closed = incidents.close_incident(incident.id, session=session, closed_by="U2")
    assert closed.closed_at is not None and closed.closed_by == "U2"
    assert incidents.close_incident(incident.id, session=session, closed_by="U3").closed_by == "U2"
    assert incidents.active_incident_for_channel("C-ops", session=session) is None

    events = timeline.events_for_incident(incident.id, session=session)
    kinds = [e.kind for e in events]
    assert kinds[:2] == ["incident.opened", "incident.followed"]
    assert kinds.count("run.requested") == 2 and "run.started" in kinds and "incident.closed" in kinds
    assert "unrelated" not in kinds
    assert {e.run_id for e in events} >= {in_incident.id, later.id}


def test_channel_default(session: Session) -> None:
    assert channels.channel_default("C1", session=session) is None
    channels.set_channel_default("C1", "prod", session=session, set_by="U1")
    channels.set_channel_default("C1", "stage", session=session, set_by="U2")
    assert channels.channel_default("C1", session=session) == "stage"
