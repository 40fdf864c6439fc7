"""Approvals: N distinct approvers, no double counting, no self-approval, expiry, voiding."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage import approvals, runs
from storage.approvals import ApprovalStatus, VoteOutcome
from storage.db import make_session_factory
from storage.errors import NotFoundError
from storage.models import ApprovalAction, VoteDecision, utcnow
from storage.timeline import events_for_run

APPROVE, REJECT = VoteDecision.APPROVE, VoteDecision.REJECT
PLAN = "3f" * 32


def _approval(
    session: Session, required: int = 2, expires_in: dt.timedelta = dt.timedelta(minutes=30)
) -> int:
    run = runs.create_run(
        session=session, procedure="replace", cluster="prod", requested_by="U-req", destructive=True
    )
    approval = approvals.request_approval(
        session=session,
        run_id=run.id,
        seq=4,
        action=ApprovalAction.MEMBER_REMOVAL,
        plan_hash=PLAN,
        required=required,
        expires_in=expires_in,
    )
    assert approval.id is not None
    return approval.id


def test_two_distinct_approvers_grant(session: Session) -> None:
    approval_id = _approval(session)
    first = approvals.record_vote(approval_id, "U-a", APPROVE, session=session)
    assert (
        first.counted and first.state.status == ApprovalStatus.PENDING and first.state.approvers == ("U-a",)
    )
    again = approvals.record_vote(approval_id, "U-a", APPROVE, session=session)
    assert again.outcome == VoteOutcome.DUPLICATE and again.state.approvers == ("U-a",)
    second = approvals.record_vote(approval_id, "U-b", APPROVE, session=session)
    assert second.counted and second.state.granted and second.state.approvers == ("U-a", "U-b")
    late = approvals.record_vote(approval_id, "U-c", APPROVE, session=session)
    assert late.outcome == VoteOutcome.ALREADY_DECIDED and late.state.approvers == ("U-a", "U-b")
    state = approvals.approval_state(approval_id, session=session)
    assert state.granted and state.plan_hash == PLAN and state.seq == 4 and state.action == "member_removal"
    kinds = [e.kind for e in events_for_run(state.run_id, session=session)]
    assert kinds == ["run.requested", "approval.requested", "approval.vote", "approval.granted"]


def test_requester_cannot_approve_but_can_reject(session: Session) -> None:
    approval_id = _approval(session)
    assert (
        approvals.record_vote(approval_id, "U-req", APPROVE, session=session).outcome
        == VoteOutcome.SELF_APPROVAL
    )
    rejected = approvals.record_vote(approval_id, "U-req", REJECT, session=session)
    assert rejected.counted and rejected.state.status == ApprovalStatus.REJECTED


def test_one_rejection_ends_the_request(session: Session) -> None:
    approval_id = _approval(session)
    approvals.record_vote(approval_id, "U-a", APPROVE, session=session)
    result = approvals.record_vote(approval_id, "U-b", REJECT, session=session)
    assert (
        result.counted
        and result.state.status == ApprovalStatus.REJECTED
        and result.state.rejected_by == "U-b"
    )
    after = approvals.record_vote(approval_id, "U-c", APPROVE, session=session)
    assert after.outcome == VoteOutcome.ALREADY_DECIDED and after.state.approvers == ("U-a",)


def test_a_click_after_expiry_does_not_count(session: Session) -> None:
    approval_id = _approval(session, expires_in=dt.timedelta(minutes=5))
    later = utcnow() + dt.timedelta(minutes=6)
    result = approvals.record_vote(approval_id, "U-a", APPROVE, session=session, now=later)
    assert result.outcome == VoteOutcome.EXPIRED and result.state.expired
    assert result.state.status == ApprovalStatus.EXPIRED and result.state.approvers == ()


def test_a_click_after_expiry_is_told_so_once_the_run_has_ended(session: Session) -> None:
    """The expiry is what ended the run: saying "expired" tells the approver why nothing will run."""
    approval_id = _approval(session, expires_in=dt.timedelta(minutes=5))
    approvals.record_vote(approval_id, "U-a", APPROVE, session=session)
    runs.cancel_run(
        approvals.approval_state(approval_id, session=session).run_id, session=session, cancelled_by="U-req"
    )
    later = utcnow() + dt.timedelta(minutes=6)
    for user in ("U-a", "U-b"):
        result = approvals.record_vote(approval_id, user, APPROVE, session=session, now=later)
        assert result.outcome == VoteOutcome.EXPIRED and result.state.approvers == ("U-a",)


def test_a_click_on_a_finished_run_does_not_count(session: Session) -> None:
    approval_id = _approval(session)
    state = approvals.approval_state(approval_id, session=session)
    runs.cancel_run(state.run_id, session=session, cancelled_by="U-req")
    assert (
        approvals.record_vote(approval_id, "U-a", APPROVE, session=session).outcome
        == VoteOutcome.RUN_FINISHED
    )


def test_voiding_on_plan_change(session: Session) -> None:
    approval_id = _approval(session)
    approvals.record_vote(approval_id, "U-a", APPROVE, session=session)
    run_id = approvals.approval_state(approval_id, session=session).run_id
    assert approvals.void_approvals(run_id, "member list changed", session=session) == [approval_id]
    assert approvals.void_approvals(run_id, "again", session=session) == []
    state = approvals.approval_state(approval_id, session=session)
    assert state.voided and state.status == ApprovalStatus.VOIDED
    assert approvals.record_vote(approval_id, "U-b", APPROVE, session=session).outcome == VoteOutcome.VOIDED
    assert approvals.latest_approval(run_id, 4, session=session) is None
    fresh = approvals.request_approval(
        session=session, run_id=run_id, seq=4, action="member_removal", plan_hash="00" * 32, slack_ts="171.2"
    )
    latest = approvals.latest_approval(run_id, 4, session=session)
    assert latest is not None and latest.id == fresh.id and latest.slack_ts == "171.2"
    assert events_for_run(run_id, session=session)[-2].kind == "approval.voided"


def test_unknown_approval(session: Session) -> None:
    with pytest.raises(NotFoundError):
        approvals.approval_state(999, session=session)


def _vote_in_threads(
    engine_factory: Callable[[], Engine], approval_id: int, users: list[str]
) -> list[VoteOutcome]:
    start = threading.Barrier(len(users))
    outcomes: list[VoteOutcome] = []

    def vote(engine: Engine, user: str) -> None:
        with make_session_factory(engine)() as own:
            start.wait()
            outcomes.append(approvals.record_vote(approval_id, user, APPROVE, session=own).outcome)

    threads = [threading.Thread(target=vote, args=(engine_factory(), user)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_same_person_clicking_twice_at_once_counts_once(
    session: Session, engine_factory: Callable[[], Engine]
) -> None:
    approval_id = _approval(session)
    outcomes = _vote_in_threads(engine_factory, approval_id, ["U-a", "U-a", "U-a"])
    assert sorted(outcomes) == sorted([VoteOutcome.COUNTED, VoteOutcome.DUPLICATE, VoteOutcome.DUPLICATE])
    assert approvals.approval_state(approval_id, session=session).approvers == ("U-a",)


def test_distinct_approvers_at_once_grant_exactly_once(
    session: Session, engine_factory: Callable[[], Engine]
) -> None:
    approval_id = _approval(session, required=2)
    outcomes = _vote_in_threads(engine_factory, approval_id, ["U-a", "U-b", "U-c"])
    assert sorted(outcomes) == sorted([VoteOutcome.COUNTED, VoteOutcome.COUNTED, VoteOutcome.ALREADY_DECIDED])
    state = approvals.approval_state(approval_id, session=session)
    assert state.granted and len(state.approvers) == 2
    kinds = [e.kind for e in events_for_run(state.run_id, session=session)]
    assert kinds.count("approval.granted") == 1
