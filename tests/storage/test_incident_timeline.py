"""What joins an incident's timeline: runs started from its channels (so their steps and approvals),
notes, and the health changes of its clusters while it is open; and one open incident per channel."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session

from runner.submit import Refused, submit_run
from storage import approvals, channels, incidents, journal, runs, timeline
from storage.db import make_session_factory
from storage.models import Run, StepStatus, VoteDecision


def _submit(session: Session, channel: str | None, cluster: str = "lab", procedure: str = "status") -> Run:
    run = submit_run(
        session=session, procedure=procedure, cluster=cluster, requested_by="U1", channel=channel
    )
    assert not isinstance(run, Refused)
    return run


def test_runs_from_a_following_channel_join_the_open_incident(session: Session) -> None:
    incident, opened = incidents.open_in_channel(
        session=session, title="quorum at risk", opened_by="U1", channel="C-ops", cluster="lab"
    )
    assert opened and incident.id is not None
    incidents.follow_incident(incident.id, "C-sre", session=session, followed_by="U2")

    from_ops, from_sre = _submit(session, "C-ops"), _submit(session, "C-sre", cluster="prod")
    elsewhere, no_channel = _submit(session, "C-random"), _submit(session, None)
    assert from_ops.incident_id == incident.id and from_sre.incident_id == incident.id
    assert elsewhere.incident_id is None and no_channel.incident_id is None

    incidents.close_incident(incident.id, session=session, closed_by="U2")
    assert _submit(session, "C-ops").incident_id is None, "a closed incident takes no new runs"
    assert [r.id for r in incidents.incident_runs(incident.id, session=session)] == [from_ops.id, from_sre.id]


def test_a_joined_runs_steps_and_approvals_are_in_the_incident_timeline(session: Session) -> None:
    incident, _ = incidents.open_in_channel(
        session=session, title="replace m-2", opened_by="U1", channel="C-ops"
    )
    assert incident.id is not None
    run = _submit(session, "C-ops", procedure="replace")
    runs.claim_next_run(session=session, worker="w", lease_seconds=30)
    journal.start_step(run.id, 1, session=session, step_id="remove", title="Remove the member")
    approval = approvals.request_approval(
        session=session, run_id=run.id, seq=1, action="member_removal", plan_hash="h" * 64
    )
    assert approval.id is not None
    approvals.record_vote(approval.id, "U2", VoteDecision.APPROVE, session=session)
    approvals.record_vote(approval.id, "U3", VoteDecision.APPROVE, session=session)
    journal.finish_step(run.id, 1, session=session, status=StepStatus.SUCCEEDED, output="{}")
    runs.finish_run(run.id, session=session, succeeded=True)
    note = incidents.add_note(incident.id, "member gone", session=session, author="U2", channel="C-ops")

    events = timeline.events_for_incident(incident.id, session=session)
    kinds = [e.kind for e in events]
    assert kinds == [
        "incident.opened",
        "run.requested",
        "run.started",
        "step.started",
        "approval.requested",
        "approval.vote",
        "approval.granted",
        "step.succeeded",
        "run.succeeded",
        incidents.NOTE,
    ]
    assert [e.actor for e in events if e.kind.startswith("approval.") and e.actor] == ["U2", "U3"]
    assert events[-1].id == note.id and note.actor == "U2" and note.summary == "member gone"


def test_health_changes_of_the_incidents_clusters_join_while_it_is_open(session: Session) -> None:
    def health(cluster: str, level: str) -> int:
        event = timeline.append_event(
            session=session,
            kind="health.changed",
            summary=f"{cluster} is {level}",
            cluster=cluster,
            details={"level": level, "reasons": [f"{cluster} looked {level}"]},
        )
        assert event.id is not None
        return event.id

    before = health("own", "amber")
    channels.set_channel_default("C-sre", "followers-default", session=session)
    incident, _ = incidents.open_in_channel(
        session=session, title="etcd slow", opened_by="U1", channel="C-ops", cluster="own"
    )
    assert incident.id is not None
    incidents.follow_incident(incident.id, "C-sre", session=session, followed_by="U2")
    _submit(session, "C-ops", cluster="of-a-run")
    joined = [health("own", "red"), health("followers-default", "red"), health("of-a-run", "amber")]
    unrelated = health("somebody-elses", "red")
    timeline.append_event(session=session, kind="backup.recorded", summary="not health", cluster="own")
    incidents.close_incident(incident.id, session=session, closed_by="U1")
    after = health("own", "green")

    found = [
        e.id for e in timeline.events_for_incident(incident.id, session=session) if e.kind == "health.changed"
    ]
    assert found == joined
    assert before not in found and unrelated not in found and after not in found
    kinds = [e.kind for e in timeline.events_for_incident(incident.id, session=session)]
    assert "backup.recorded" not in kinds, "only health events join by cluster"


def test_an_open_incident_takes_the_health_changes_up_to_now(session: Session) -> None:
    incident = incidents.open_incident(session=session, title="t", opened_by="U1", channel="C1", cluster="c")
    assert incident.id is not None
    event = timeline.append_event(session=session, kind="health.changed", summary="red", cluster="c")
    assert event.id in [e.id for e in timeline.events_for_incident(incident.id, session=session)]
    assert timeline.events_for_incident(999_999, session=session) == []


def test_a_channel_opens_one_incident_at_a_time(session: Session) -> None:
    first, opened = incidents.open_in_channel(session=session, title="one", opened_by="U1", channel="C-ops")
    again, opened_again = incidents.open_in_channel(
        session=session, title="two", opened_by="U2", channel="C-ops"
    )
    assert opened and not opened_again and again.id == first.id and again.title == "one"
    other, opened_other = incidents.open_in_channel(
        session=session, title="two", opened_by="U2", channel="C-b"
    )
    assert opened_other and other.id != first.id
    assert first.id is not None
    incidents.close_incident(first.id, session=session, closed_by="U1")
    assert incidents.active_incident_for_channel("C-ops", session=session) is None
    latest = incidents.latest_incident_for_channel("C-ops", session=session)
    assert latest is not None and latest.id == first.id, "the closed one is still there to export"
    third, opened_third = incidents.open_in_channel(
        session=session, title="three", opened_by="U1", channel="C-ops"
    )
    assert opened_third
    latest = incidents.latest_incident_for_channel("C-ops", session=session)
    assert latest is not None and latest.id == third.id
    assert incidents.latest_incident_for_channel("C-never", session=session) is None


def test_two_people_opening_at_once_in_one_channel_get_one_incident(
    session: Session, engine_factory: Callable[[], Engine]
) -> None:
    start = threading.Barrier(4)
    results: list[tuple[int | None, bool]] = []
    errors: list[BaseException] = []

    def open_one(engine: Engine, user: str) -> None:
        try:
            with make_session_factory(engine)() as own:
                start.wait()
                incident, opened = incidents.open_in_channel(
                    session=own, title=f"paged {user}", opened_by=user, channel="C-ops"
                )
                results.append((incident.id, opened))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one, args=(engine_factory(), f"U{n}")) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(opened for _, opened in results) == 1
    assert len({incident_id for incident_id, _ in results}) == 1


def test_followers_and_an_export_request(session: Session) -> None:
    incident, _ = incidents.open_in_channel(session=session, title="t", opened_by="U1", channel="C-ops")
    assert incident.id is not None
    incidents.follow_incident(incident.id, "C-sre", session=session, followed_by="U2")
    assert [(f.channel, f.followed_by) for f in incidents.followers(incident.id, session=session)] == [
        ("C-ops", "U1"),
        ("C-sre", "U2"),
    ]
    request = incidents.request_export(incident.id, session=session, requested_by="U2", channel="C-sre")
    assert request.kind == incidents.EXPORT_REQUESTED and request.incident_id == incident.id
    assert request.details == {"channel": "C-sre"} and request.actor == "U2"
