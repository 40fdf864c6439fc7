"""The timeline → Slack relay: one message per run, edited as its steps change, details in its thread.

The runner never talks to Slack; it journals steps and appends timeline events. This relay reads the
events after its saved cursor, re-renders each touched run from the journal (so a message always shows
the run's current state, however many events it missed) and posts each finished step's output in the
run's thread. Slack being down delays the messages and loses nothing: the cursor only moves forward
once a batch is shown.

It also posts what a listener asked to be posted after its ack: an incident's Markdown timeline, asked
for with ``/etcd incident export``, is uploaded when its ``incident.export_requested`` event comes by.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from typing import Any, cast

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.approvers import who_may
from bot.blocks import FINISHED, ApprovalView, RunView, StepView, render_approval, render_run
from bot.clusters import Action, ClustersFile
from bot.incident_export import post_export
from storage import approvals, cursors, journal, runs
from storage.db import SessionFactory
from storage.incidents import EXPORT_REQUESTED
from storage.leases import LeaseKeeper
from storage.models import Run, StepRun, TimelineEvent
from storage.timeline import events_for_run, events_since

log = logging.getLogger(__name__)

REPORT_PROCEDURES = frozenset(
    {"status", "diagnose", "health"}
)  # runs whose answer is their report, not a list of steps
HEALTH_CHANGED = "health.changed"
STEP_DONE_KINDS = frozenset({"step.succeeded", "step.failed"})
THREAD_TEXT_LIMIT = 2500


def run_view(run: Run, steps: Sequence[StepRun]) -> RunView:
    return RunView(
        run_id=run.id,
        procedure=run.procedure,
        cluster=run.cluster,
        requested_by=run.requested_by,
        status=run.status,
        steps=tuple(StepView(s.seq, s.title, s.status, max(1, s.attempt)) for s in steps),
        error=run.error or "",
        result=run.result or "",
    )


def step_reply(step: StepRun) -> str:
    """What a finished step says in the run's thread: its outcome, and its log or error."""
    outcome = "succeeded" if step.status == "succeeded" else step.status
    text = f"*{step.seq}. {step.title}* {outcome}"
    if step.error:
        return f"{text}\n```{step.error[-THREAD_TEXT_LIMIT:]}```"
    try:
        output = json.loads(step.output or "{}")
    except ValueError:
        output = {}
    details = output.get("log") if isinstance(output, dict) else None
    if details:
        return f"{text}\n```{str(details)[-THREAD_TEXT_LIMIT:]}```"
    return text


class SlackRelay:
    """Polls the timeline every ``interval`` seconds (well within the 1 s a step change may take to show)."""

    def __init__(
        self,
        sessions: SessionFactory,
        client: WebClient,
        clusters: ClustersFile,
        *,
        name: str = "slack",
        interval: float = 0.25,
        lease: LeaseKeeper | None = None,
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.clusters = clusters
        self.name = name
        self.interval = interval
        self.lease = lease  # with replicas, only the lease holder posts (each message once)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> SlackRelay:
        self._thread = threading.Thread(target=self._loop, name="slack-relay", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def holds(self) -> bool:
        """May this process post? Always without a lease; with one, while it holds it."""
        return self.lease is None or self.lease.held()

    def release(self) -> None:
        if self.lease is not None:
            self.lease.release()

    def _loop(self) -> None:
        delay = self.interval
        while not self._stop.wait(delay):
            try:
                if not self.holds():
                    delay = 1.0  # another replica posts; look again in a second
                    continue
                self.pump()
                delay = self.interval
            except Exception:  # Slack or the database unreachable: try again later, nothing is lost
                log.warning("relay: could not bring Slack up to date; retrying", exc_info=True)
                delay = min(delay * 2, 10.0)

    def pump(self) -> int:
        """Show everything that happened since the cursor; returns how many events were handled."""
        with self.sessions() as session:
            cursor = cursors.cursor_position(self.name, session=session)
            events = list(events_since(cursor, session=session))
        if not events:
            return 0
        touched: dict[str, list[TimelineEvent]] = {}
        for event in events:
            if event.run_id:
                touched.setdefault(event.run_id, []).append(event)
        for run_id, run_events in touched.items():
            self._show_run(run_id, run_events)
        for approval_id in dict.fromkeys(
            int(e.details["approval_id"]) for e in events if e.kind.startswith("approval.")
        ):
            self._show_approval(approval_id)
        for event in events:
            if event.kind == EXPORT_REQUESTED:
                post_export(event, sessions=self.sessions, client=self.client)
            elif event.kind == HEALTH_CHANGED:
                self._show_health_change(event)
        last = events[-1].id
        assert last is not None
        with self.sessions() as session:
            cursors.save_cursor(self.name, last, session=session)
        return len(events)

    def _channel(self, run: Run) -> str | None:
        if run.channel:
            return run.channel
        try:
            return self.clusters.get(run.cluster).default_channel
        except KeyError:
            return None

    def _show_run(self, run_id: str, events: list[TimelineEvent]) -> None:
        with self.sessions() as session:
            run = runs.get_run(run_id, session=session)
            if run.procedure in REPORT_PROCEDURES and run.status not in FINISHED:
                return  # a report is shown once it is in; until then there is nothing to show
            steps = list(journal.steps_of(run_id, session=session))
        channel = self._channel(run)
        if channel is None:
            return
        try:
            if run.procedure in REPORT_PROCEDURES:
                self._show_report(run, steps, channel)
                return
            text, blocks = render_run(run_view(run, steps))
            ts = self._post_or_update(run, channel, text, blocks)
            done = {int(e.details.get("seq", 0)) for e in events if e.kind in STEP_DONE_KINDS}
            for step in steps:
                if step.seq in done:
                    self.client.chat_postMessage(
                        channel=run.channel or channel, thread_ts=ts, text=step_reply(step)
                    )
        except SlackApiError as exc:
            # Slack refused this run's message for good (channel gone, bot not in it): say so in the
            # log and move on, rather than blocking every later run behind it.
            log.error("relay: Slack refused the message of %s: %s", run_id, exc.response.get("error"))

    def _show_report(self, run: Run, steps: list[StepRun], channel: str) -> None:
        if run.status == "succeeded" and steps:
            report: dict[str, Any] = json.loads(steps[-1].output or "{}")
            if run.slack_ts is None:
                self._post_or_update(run, channel, report["text"], report["blocks"])
        elif run.status in ("failed", "cancelled"):
            text, blocks = render_run(run_view(run, steps))
            self._post_or_update(run, channel, text, blocks)

    def _show_health_change(self, event: TimelineEvent) -> None:
        """A cluster turned bad or recovered: tell each channel that gets its health reports, once."""
        for channel in event.details.get("channels") or []:
            try:
                self.client.chat_postMessage(
                    channel=channel,
                    text=event.details.get("text") or event.summary,
                    blocks=event.details.get("blocks"),
                )
            except SlackApiError as exc:
                log.error(
                    "relay: Slack refused the health change of %s: %s",
                    event.cluster,
                    exc.response.get("error"),
                )

    def _show_approval(self, approval_id: int) -> None:
        """Post the approval message when it is requested; edit it as votes come and when it closes."""
        with self.sessions() as session:
            approval = approvals.get_approval(approval_id, session=session)
            state = approvals.approval_state(approval_id, session=session)
            run = runs.get_run(approval.run_id, session=session)
            step = next((s for s in journal.steps_of(run.id, session=session) if s.seq == approval.seq), None)
            requested = next(
                (
                    e
                    for e in events_for_run(run.id, session=session)
                    if e.kind == "approval.requested" and e.details.get("approval_id") == approval_id
                ),
                None,
            )
        channel = self._channel(run)
        if channel is None:
            return
        try:
            policy = self.clusters.get(run.cluster).policy(cast(Action, approval.action))
            who = who_may(policy)
        except KeyError:
            who = "approvers"
        view = ApprovalView(
            approval_id=approval_id,
            run_id=run.id,
            cluster=run.cluster,
            seq=approval.seq,
            step_title=step.title if step else f"step {approval.seq}",
            action=approval.action,
            requested_by=run.requested_by,
            required=state.required,
            approvers=state.approvers,
            who_may=who,
            expires_at=f"{state.expires_at:%H:%M} UTC",
            status=state.status.value,
            plan=dict((requested.details.get("plan") if requested else None) or {}),
            rejected_by=state.rejected_by,
            note=approval.void_reason or "",
        )
        text, blocks = render_approval(view)
        try:
            if approval.slack_ts:
                self.client.chat_update(channel=channel, ts=approval.slack_ts, text=text, blocks=blocks)
                return
            posted = self.client.chat_postMessage(channel=channel, text=text, blocks=blocks)
            with self.sessions() as session:
                approvals.set_approval_slack_ts(approval_id, str(posted["ts"]), session=session)
        except SlackApiError as exc:
            log.error("relay: Slack refused approval %s: %s", approval_id, exc.response.get("error"))

    def _post_or_update(self, run: Run, channel: str, text: str, blocks: list[dict[str, Any]]) -> str:
        if run.slack_ts:
            self.client.chat_update(channel=channel, ts=run.slack_ts, text=text, blocks=blocks)
            return run.slack_ts
        posted = self.client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        ts, channel_id = str(posted["ts"]), str(posted.get("channel") or channel)
        with self.sessions() as session:
            runs.set_slack_ts(run.id, ts, session=session, channel=channel_id)
        run.slack_ts, run.channel = ts, channel_id
        return ts
