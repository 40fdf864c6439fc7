"""The timeline → Slack relay: one message per run, edited as its steps change, details in its thread.

The runner never talks to Slack; it journals steps and appends timeline events. This relay reads the
events after its saved cursor, re-renders each touched run from the journal (so a message always shows
the run's current state, however many events it missed) and posts each finished step's output in the
run's thread. Slack being down delays the messages and loses nothing: the cursor only moves forward
once a batch is shown.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.blocks import FINISHED, RunView, StepView, render_run
from bot.clusters import ClustersFile
from storage import cursors, journal, runs
from storage.db import SessionFactory
from storage.models import Run, StepRun, TimelineEvent
from storage.timeline import events_since

log = logging.getLogger(__name__)

REPORT_PROCEDURES = frozenset(
    {"status", "diagnose"}
)  # runs whose answer is their report, not a list of steps
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
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.clusters = clusters
        self.name = name
        self.interval = interval
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

    def _loop(self) -> None:
        delay = self.interval
        while not self._stop.wait(delay):
            try:
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
