"""The Approve and Reject buttons of an approval message.

A click only records a vote (``storage.approvals.record_vote`` enforces one vote per person, no
self-approval, no vote after expiry, on a voided request or a finished run); the runner reads the outcome
and acts. Everyone whose click changes nothing is told why, privately. The relay updates the message
with who approved and when.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.approvers import may_approve, who_may
from bot.blocks import APPROVE_ACTION, REJECT_ACTION
from bot.clusters import Action
from handlers.deps import BotDeps
from storage import approvals, runs
from storage.approvals import VoteOutcome
from storage.db import urgent_writes
from storage.errors import NotFoundError
from storage.models import VoteDecision

log = logging.getLogger(__name__)

REASONS = {
    VoteOutcome.DUPLICATE: "You already voted on this request; a second click changes nothing.",
    VoteOutcome.SELF_APPROVAL: "You requested this run: someone else must approve it.",
    VoteOutcome.EXPIRED: "This request has expired; nothing will run. Start the procedure again.",
    VoteOutcome.VOIDED: "This request is stale: the plan changed after it was posted; see the new one.",
    VoteOutcome.ALREADY_DECIDED: "This request was already decided; your click changes nothing.",
    VoteOutcome.RUN_FINISHED: "This run has already finished; your click changes nothing.",
}


def vote(
    approval_id: int, user_id: str, decision: VoteDecision, client: WebClient, deps: BotDeps
) -> str | None:
    """Record the click; None when it counted, else the reason to tell the person."""
    with deps.sessions() as session:
        try:
            approval = approvals.approval_state(approval_id, session=session)
            run = runs.get_run(approval.run_id, session=session)
        except NotFoundError:
            return "There is no such approval request (it may belong to another etcdops)."
    if decision == VoteDecision.APPROVE and user_id == run.requested_by:
        return REASONS[VoteOutcome.SELF_APPROVAL]
    try:
        policy = deps.clusters.get(run.cluster).policy(cast(Action, approval.action))
    except KeyError:
        return f"Cluster {run.cluster} is no longer configured; nothing will run."
    try:
        allowed = may_approve(client, policy, user_id)
    except SlackApiError as exc:
        # Slack did not answer who is in the group (outage, rate limit, a scope missing): the click is
        # not counted, and the person is told why instead of Slack's generic "something went wrong".
        why = exc.response.get("error")
        log.warning("could not read the approvers of %s from Slack: %s", run.cluster, why)
        return (
            f"Slack could not tell whether you are among {who_may(policy)} "
            f"({why or 'no answer'}); your click was not counted. Try again in a moment."
        )
    if not allowed:
        return f"Only {who_may(policy)} may approve or reject this; you are not among them."
    with urgent_writes(), deps.sessions() as session:
        result = approvals.record_vote(approval_id, user_id, decision, session=session)
    return None if result.counted else REASONS[result.outcome]


def register(app: App, deps: BotDeps) -> None:
    def on_click(decision: VoteDecision) -> Any:
        def click(
            ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
        ) -> None:
            ack()
            value = str(action.get("value", ""))
            reason = (
                vote(int(value), str(body["user"]["id"]), decision, client, deps)
                if value.isdigit()
                else "This button does not name an approval request."
            )
            if reason:
                respond(text=f":warning: {reason}", response_type="ephemeral", replace_original=False)

        return click

    app.action(APPROVE_ACTION)(on_click(VoteDecision.APPROVE))
    app.action(REJECT_ACTION)(on_click(VoteDecision.REJECT))
