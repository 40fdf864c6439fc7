"""Approvals: N distinct people must approve a destructive step before the runner executes it.

An approval request is bound to the step (``run_id``, ``seq``) and to the **plan hash** of what will be
done. Votes only record state; :func:`approval_state` derives the outcome from them. The rules an on-call
engineer relies on are enforced here, where they cannot be raced:

- a second click by the same person never counts twice (unique ``(approval_id, user)`` and a check
  under the approval's row lock);
- the requester of the run cannot approve it;
- one rejection ends the request;
- a click after expiry, after the request was voided (plan changed), after it was already decided, or
  on a run that has finished does nothing, and the outcome says why so the bot can explain.

Policy (how many approvers, who may approve) belongs to the caller; ``required`` is stored per request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage import metrics
from storage.db import writes
from storage.errors import NotFoundError
from storage.models import (
    ACTIVE_RUN_STATUSES,
    Approval,
    ApprovalVote,
    Run,
    TimelineEvent,
    VoteDecision,
    utcnow,
)
from storage.timeline import add_event

DEFAULT_EXPIRY = dt.timedelta(hours=1)


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    VOIDED = "voided"


class VoteOutcome(StrEnum):
    COUNTED = "counted"
    DUPLICATE = "duplicate"  # this person already voted on this request
    SELF_APPROVAL = "self_approval"  # the requester tried to approve their own run
    EXPIRED = "expired"  # the request expired before the click
    VOIDED = "voided"  # the plan changed; the message clicked on is stale
    ALREADY_DECIDED = "already_decided"  # enough approvals, or a rejection, came first
    RUN_FINISHED = "run_finished"  # the run succeeded, failed or was cancelled meanwhile


@dataclass(frozen=True)
class ApprovalState:
    approval_id: int
    run_id: str
    seq: int
    action: str
    plan_hash: str
    required: int
    approvers: tuple[str, ...]
    rejected_by: str | None
    expires_at: dt.datetime
    expired: bool
    voided: bool
    status: ApprovalStatus

    @property
    def granted(self) -> bool:
        return self.status == ApprovalStatus.APPROVED


@dataclass(frozen=True)
class VoteResult:
    outcome: VoteOutcome
    state: ApprovalState

    @property
    def counted(self) -> bool:
        return self.outcome == VoteOutcome.COUNTED


@writes
def request_approval(
    *,
    session: Session,
    run_id: str,
    seq: int,
    action: str,
    plan_hash: str,
    required: int = 2,
    expires_in: dt.timedelta = DEFAULT_EXPIRY,
    slack_ts: str | None = None,
    now: dt.datetime | None = None,
    plan: dict[str, Any] | None = None,
) -> Approval:
    """Ask for ``required`` approvals of step ``seq`` of the run, valid for ``expires_in``; ``plan`` (what
    exactly will run) goes into the event, so the approval message shows it."""
    if required < 1:
        raise ValueError("an approval needs at least one approver")
    run = session.get(Run, run_id)
    if run is None:
        raise NotFoundError(f"no run {run_id!r}")
    now = now or utcnow()
    approval = Approval(
        run_id=run_id,
        seq=seq,
        action=action,
        plan_hash=plan_hash,
        required=required,
        requested_at=now,
        expires_at=now + expires_in,
        slack_ts=slack_ts,
    )
    session.add(approval)
    session.flush()
    add_event(
        session=session,
        kind="approval.requested",
        summary=f"{action} in {run_id} step {seq} needs {required} approval(s)",
        cluster=run.cluster,
        run_id=run_id,
        incident_id=run.incident_id,
        details={
            "approval_id": approval.id,
            "seq": seq,
            "action": action,
            "plan_hash": plan_hash,
            "required": required,
            "expires_at": approval.expires_at.isoformat(),
            "plan": plan or {},
        },
    )
    session.commit()
    return approval


def _get(approval_id: int, session: Session, *, lock: bool = False) -> Approval:
    statement = select(Approval).where(Approval.id == approval_id).execution_options(populate_existing=True)
    if lock:
        statement = statement.with_for_update()
    approval = session.exec(statement).first()
    if approval is None:
        raise NotFoundError(f"no approval {approval_id}")
    return approval


def _state(approval: Approval, session: Session, now: dt.datetime) -> ApprovalState:
    assert approval.id is not None
    votes = session.exec(
        select(ApprovalVote).where(ApprovalVote.approval_id == approval.id).order_by(col(ApprovalVote.id))
    ).all()
    approvers = tuple(v.user for v in votes if v.decision == VoteDecision.APPROVE)
    rejected_by = next((v.user for v in votes if v.decision == VoteDecision.REJECT), None)
    voided = approval.voided_at is not None
    expired = now >= approval.expires_at
    if voided:
        status = ApprovalStatus.VOIDED
    elif rejected_by is not None:
        status = ApprovalStatus.REJECTED
    elif len(approvers) >= approval.required:
        status = ApprovalStatus.APPROVED
    elif expired:
        status = ApprovalStatus.EXPIRED
    else:
        status = ApprovalStatus.PENDING
    return ApprovalState(
        approval_id=approval.id,
        run_id=approval.run_id,
        seq=approval.seq,
        action=approval.action,
        plan_hash=approval.plan_hash,
        required=approval.required,
        approvers=approvers,
        rejected_by=rejected_by,
        expires_at=approval.expires_at,
        expired=expired,
        voided=voided,
        status=status,
    )


def approval_state(approval_id: int, *, session: Session, now: dt.datetime | None = None) -> ApprovalState:
    """Who approved so far, who rejected, and whether the request is expired, voided or decided."""
    return _state(_get(approval_id, session), session, now or utcnow())


def get_approval(approval_id: int, *, session: Session) -> Approval:
    """The request itself (its Slack message, expiry, plan hash); :class:`NotFoundError` if unknown."""
    return _get(approval_id, session)


def latest_approval(run_id: str, seq: int, *, session: Session) -> Approval | None:
    """The newest request for step ``seq`` of the run that has not been voided (what the runner waits on)."""
    statement = (
        select(Approval)
        .where(Approval.run_id == run_id, Approval.seq == seq, col(Approval.voided_at).is_(None))
        .order_by(col(Approval.id).desc())
        .execution_options(populate_existing=True)
    )
    return session.exec(statement).first()


@writes
def set_approval_slack_ts(approval_id: int, slack_ts: str, *, session: Session) -> Approval:
    approval = _get(approval_id, session)
    approval.slack_ts = slack_ts
    session.add(approval)
    session.commit()
    return approval


def _refusal(
    approval: Approval, run: Run, user: str, decision: VoteDecision, session: Session, now: dt.datetime
) -> VoteOutcome | None:
    state = _state(approval, session, now)
    if state.voided:
        return VoteOutcome.VOIDED
    if state.status == ApprovalStatus.EXPIRED:
        return VoteOutcome.EXPIRED  # said even once the run has ended of it: that is why nothing runs
    if run.status not in ACTIVE_RUN_STATUSES:
        return VoteOutcome.RUN_FINISHED
    if user in state.approvers or user == state.rejected_by:
        return VoteOutcome.DUPLICATE
    if state.status in (ApprovalStatus.APPROVED, ApprovalStatus.REJECTED):
        return VoteOutcome.ALREADY_DECIDED
    if decision == VoteDecision.APPROVE and user == run.requested_by:
        return VoteOutcome.SELF_APPROVAL
    return None


@writes
def record_vote(
    approval_id: int,
    user: str,
    decision: VoteDecision,
    *,
    session: Session,
    now: dt.datetime | None = None,
) -> VoteResult:
    """Record one person's approve/reject click, or explain why it does not count."""
    now = now or utcnow()
    decision = VoteDecision(decision)
    approval = _get(approval_id, session, lock=True)  # serialises votes on the same request
    run = session.get(Run, approval.run_id, populate_existing=True)
    assert run is not None  # the foreign key guarantees it
    refusal = _refusal(approval, run, user, decision, session, now)
    if refusal is not None:
        state = _state(approval, session, now)
        session.commit()
        return VoteResult(refusal, state)
    try:
        session.execute(
            insert(ApprovalVote).values(approval_id=approval_id, user=user, decision=decision, at=now)
        )
        session.flush()
    except IntegrityError:
        session.rollback()
        return VoteResult(VoteOutcome.DUPLICATE, approval_state(approval_id, session=session, now=now))
    state = _state(approval, session, now)
    base = {"approval_id": approval_id, "seq": approval.seq, "action": approval.action, "user": user}
    if decision == VoteDecision.REJECT:
        kind, summary = "approval.rejected", f"{user} rejected {approval.action} in {run.id}"
    elif state.granted:
        kind, summary = (
            "approval.granted",
            f"{approval.action} in {run.id} approved by {', '.join(state.approvers)}",
        )
    else:
        kind = "approval.vote"
        summary = (
            f"{user} approved {approval.action} in {run.id} ({len(state.approvers)}/{approval.required})"
        )
    add_event(
        session=session,
        kind=kind,
        summary=summary,
        cluster=run.cluster,
        run_id=run.id,
        incident_id=run.incident_id,
        actor=user,
        details={**base, "approvers": list(state.approvers)},
    )
    session.commit()
    if state.status in (ApprovalStatus.APPROVED, ApprovalStatus.REJECTED):
        metrics.approval_ended(approval.action, state.status.value, approval.requested_at, now)
    return VoteResult(VoteOutcome.COUNTED, state)


@writes
def void_approvals(run_id: str, reason: str, *, session: Session) -> Sequence[int]:
    """Void every live approval of the run (the plan hash changed); returns the voided ids."""
    now = utcnow()
    approvals = session.exec(
        select(Approval)
        .where(Approval.run_id == run_id, col(Approval.voided_at).is_(None))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    run = session.get(Run, run_id)
    voided: list[int] = []
    waiting = [a for a in approvals if _state(a, session, now).status == ApprovalStatus.PENDING]
    for approval in approvals:
        assert approval.id is not None
        approval.voided_at = now
        approval.void_reason = reason
        session.add(approval)
        voided.append(approval.id)
        add_event(
            session=session,
            kind="approval.voided",
            summary=f"approval of {approval.action} in {run_id} voided: {reason}",
            cluster=run.cluster if run else None,
            run_id=run_id,
            incident_id=run.incident_id if run else None,
            details={"approval_id": approval.id, "seq": approval.seq, "reason": reason},
        )
    session.commit()
    for approval in waiting:  # those already decided were timed when they were
        metrics.approval_ended(approval.action, ApprovalStatus.VOIDED.value, approval.requested_at, now)
    return voided


@writes
def record_expiry(approval_id: int, *, session: Session, now: dt.datetime | None = None) -> bool:
    """Put the request's expiry on the timeline, once; False if it had not expired or was already said."""
    now = now or utcnow()
    approval = _get(approval_id, session, lock=True)
    state = _state(approval, session, now)
    said = session.exec(
        select(TimelineEvent).where(
            TimelineEvent.run_id == approval.run_id, TimelineEvent.kind == "approval.expired"
        )
    ).all()
    run = session.get(Run, approval.run_id)
    ids = {event.details.get("approval_id") for event in said}
    if state.status != ApprovalStatus.EXPIRED or approval_id in ids:
        session.commit()
        return False
    add_event(
        session=session,
        kind="approval.expired",
        summary=f"approval of {approval.action} in {approval.run_id} expired with "
        f"{len(state.approvers)}/{approval.required} approvals",
        cluster=run.cluster if run else None,
        run_id=approval.run_id,
        incident_id=run.incident_id if run else None,
        details={"approval_id": approval_id, "seq": approval.seq, "approvers": list(state.approvers)},
    )
    session.commit()
    metrics.approval_ended(
        approval.action, ApprovalStatus.EXPIRED.value, approval.requested_at, approval.expires_at
    )
    return True
