"""Round trips of every table through a fresh session: JSON, booleans, big integers, aware UTC times."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from storage.db import make_session_factory
from storage.models import (
    Approval,
    ApprovalVote,
    Backup,
    ChannelDefault,
    ClusterLock,
    HealthState,
    Incident,
    IncidentChannel,
    RelayCursor,
    Run,
    Schedule,
    SchedulerLease,
    StepRun,
    TimelineEvent,
)

# A non-UTC zone on the way in: it must come back as the same instant, in UTC.
CEST = dt.timezone(dt.timedelta(hours=2))
T0 = dt.datetime(2026, 3, 1, 14, 30, 15, 123456, tzinfo=CEST)


def _rows() -> list[SQLModel]:
    return [
        Incident(id=7, title="quorum", cluster="prod", opened_by="U1", opened_at=T0),
        IncidentChannel(incident_id=7, channel="C1", followed_by="U1", followed_at=T0),
        Run(
            id="r-abcde",
            procedure="restore",
            cluster="prod",
            requested_by="U1",
            channel="C1",
            params={"backup": 3, "hosts": ["m-0", "m-1"], "opts": {"force": False}},
            status="waiting_approval",
            destructive=True,
            created_at=T0,
            started_at=T0,
            claimed_by="runner-1",
            lease_until=T0 + dt.timedelta(seconds=30),
            plan_hash="ff" * 32,
            slack_ts="1700000000.000100",
            incident_id=7,
            schedule_id="s-abcde",
            scheduled_for=T0,
        ),
        StepRun(
            run_id="r-abcde",
            seq=1,
            step_id="stop-pods",
            title="Stop static pods",
            status="started",
            attempt=2,
            destructive=True,
            started_at=T0,
            output="moved etcd-pod.yaml\n",
        ),
        Approval(
            id=11,
            run_id="r-abcde",
            seq=1,
            action="restore",
            plan_hash="ff" * 32,
            required=2,
            requested_at=T0,
            expires_at=T0 + dt.timedelta(hours=1),
        ),
        ApprovalVote(id=5, approval_id=11, user="U2", decision="approve", at=T0),
        Backup(
            id=3,
            cluster="prod",
            host="master-0",
            openshift_version="4.14.12",
            etcd_revision=2**40,
            key_count=10,
            snapshot_size=5 * 1024**3,
            snapshot_sha256="ab" * 32,
            resources_size=100,
            location="s3://bucket/prod/",
            snapshot_name="snapshot_2026-03-01_143015.db",
            resources_name="static_kuberesources_2026-03-01_143015.tar.gz",
            taken_at=T0,
            run_id="r-abcde",
            verified_at=T0,
            verify_result="ok",
            resources_location="s3://bucket/static-resources/prod/r-abcde",
            pruned_at=T0,
            pruned_by="r-fghjk",
        ),
        TimelineEvent(
            id=42,
            at=T0,
            cluster="prod",
            run_id="r-abcde",
            incident_id=7,
            kind="step.started",
            actor="runner-1",
            summary="Stop static pods",
            details={"seq": 1, "nested": {"list": [1, "two", None]}},
        ),
        ClusterLock(cluster="prod", run_id="r-abcde", acquired_at=T0),
        ChannelDefault(channel="C1", cluster="prod", set_by="U1", set_at=T0),
        RelayCursor(name="slack", position=2**40, updated_at=T0),
        Schedule(
            id="s-abcde", kind="backup", cron="0 3 * * sun", cluster="prod", created_by="U1", created_at=T0
        ),
        SchedulerLease(name="scheduler", holder="etcdops@host", expires_at=T0),
        HealthState(
            cluster="prod", signature="red;unhealthy=master-0", level="red", changed_at=T0, checked_at=T0
        ),
    ]


def _key(row: SQLModel) -> tuple[object, ...]:
    identity = row.__mapper__.primary_key_from_instance(row)  # type: ignore[attr-defined]
    return tuple(identity)


def test_every_table_round_trips(engine: Engine) -> None:
    rows = _rows()
    # APScheduler's table has no model: the job store reads and writes it (tested in test_scheduler).
    assert {type(r).__tablename__ for r in rows} == set(SQLModel.metadata.tables) - {"apscheduler_jobs"}
    expected = [(type(r), _key(r), r.model_dump()) for r in rows]
    factory = make_session_factory(engine)
    with factory() as session:
        for row in rows:
            session.add(row)
            session.flush()
        session.commit()
    with factory() as session:
        for model, key, values in expected:
            loaded = session.get(model, key)
            assert loaded is not None, (model, key)
            dumped = loaded.model_dump()
            assert dumped == values, model
            for name, value in dumped.items():
                if isinstance(value, dt.datetime):
                    assert value.tzinfo is dt.UTC, (model, name)
                    assert value == T0 or value > T0
