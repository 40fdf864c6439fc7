"""An incident's timeline as Markdown, ready to paste into a postmortem (pure).

The document answers what a postmortem asks, in this order: what the incident was and who opened and
closed it when; which channels followed it; what each run did (procedure, steps with their outcomes,
approvals with who decided, final outcome); and one table of everything in time order. Times are UTC
with the zone written out, people are shown by name when a ``names`` mapping is given (their Slack ID
otherwise), and every text that came from a person or a cluster goes through :func:`storage.redact`
— then the whole document once more, so no field can be forgotten.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from storage.models import Incident, IncidentChannel, Run, StepRun, TimelineEvent
from storage.redact import redact

# Kinds left out of the time-ordered table: the run sections show each step's start and the plan, and
# asking for an export is not part of what happened.
NOT_IN_TABLE = frozenset({"step.started", "run.planned", "incident.export_requested"})
# Kinds whose actor is the runner's worker name, not a person.
RUNNER_KINDS = frozenset({"run.started", "run.resumed", "run.succeeded", "run.failed"})
BOT = "etcdops"
SCHEDULED_BY = "schedule:"
SLACK_ID = re.compile(r"^[UWB][A-Z0-9]{2,}$")
_SLACK_MARKUP = re.compile(r"<([@#!]?)([^<>|]+)(?:\|([^<>]*))?>")
OUTCOMES = {
    "succeeded": "**succeeded**",
    "failed": "**FAILED**",
    "cancelled": "**cancelled**",
    "skipped": "skipped",
    "pending": "not started",
    "started": "started, not finished",
    "running": "still running",
    "waiting_approval": "waiting for approval",
}


@dataclass(frozen=True)
class IncidentExport:
    """Everything the document is made from, as read from storage."""

    incident: Incident
    followers: Sequence[IncidentChannel]
    runs: Sequence[Run]
    steps: Mapping[str, Sequence[StepRun]]
    events: Sequence[TimelineEvent]
    exported_at: dt.datetime
    exported_by: str | None = None


def utc(at: dt.datetime) -> str:
    """``2026-12-01 19:30:05 UTC``."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float) -> str:
    """``45 s``, ``12 min 3 s``, ``2 h 5 min``."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


@dataclass(frozen=True)
class _Names:
    people: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)

    def person(self, who: str | None) -> str:
        if not who:
            return BOT
        if who.startswith(SCHEDULED_BY):
            return f"schedule {who.removeprefix(SCHEDULED_BY)}"
        return self.people.get(who, who)

    def channel(self, channel_id: str | None) -> str:
        if not channel_id:
            return "?"
        name = self.channels.get(channel_id)
        return f"#{name.lstrip('#')}" if name else channel_id

    def slack(self, text: str) -> str:
        """Text typed in Slack (titles, notes): its markup made readable (``<@U1>`` → name, ``<#C1|ops>``
        → #ops, ``&lt;`` → ``<``), then redacted."""

        def markup(match: re.Match[str]) -> str:
            sigil, target, label = match.group(1), match.group(2), match.group(3)
            if sigil == "@":
                return self.person(target)
            if sigil == "#":
                return f"#{label}" if label else self.channel(target)
            if sigil == "!":
                return f"@{label or target}"
            return f"{label} ({target})" if label and label != target else target

        readable = _SLACK_MARKUP.sub(markup, text)
        readable = readable.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        return redact(readable)

    @staticmethod
    def plain(text: str) -> str:
        """Text from a cluster or the runner (errors, results): redacted, markup left alone."""
        return redact(text)

    @staticmethod
    def cell(text: str) -> str:
        """On one line (a table cell, a list item), redacted, with no column-breaking ``|``."""
        flat = redact(text).strip().replace("\r\n", "\n").replace("\n", "<br>")
        return flat.replace("|", "\\|")


def _params(params: Mapping[str, Any]) -> str:
    shown = [
        key.replace("_", " ") if value is True else f"{key.replace('_', ' ')} {value}"
        for key, value in params.items()
        if value not in (None, False, "", [], {})
    ]
    return ", ".join(shown)


def _action(value: Any) -> str:
    return str(value or "approval").replace("_", " ")


class _Timeline:
    """Indexes over the events that several renderings need (step titles, approval requests)."""

    def __init__(self, export: IncidentExport, names: _Names) -> None:
        self.export = export
        self.names = names
        self.runs = {run.id: run for run in export.runs}
        self.titles = {
            (run_id, step.seq): step.title for run_id, steps in export.steps.items() for step in steps
        }
        self.requests: dict[Any, TimelineEvent] = {
            e.details.get("approval_id"): e for e in export.events if e.kind == "approval.requested"
        }
        self.ordered = sorted(export.events, key=lambda e: (e.at, e.id or 0))

    def required(self, approval_id: Any) -> int | None:
        request = self.requests.get(approval_id)
        value = request.details.get("required") if request else None
        return int(value) if isinstance(value, int) else None

    def step(self, event: TimelineEvent) -> str:
        seq = event.details.get("seq")
        title = self.titles.get((event.run_id or "", int(seq))) if isinstance(seq, int) else None
        return f"step {seq} “{title}”" if title else f"step {seq}"

    def who(self, event: TimelineEvent) -> str:
        return BOT if event.kind in RUNNER_KINDS else self.names.person(event.actor)

    def what(self, event: TimelineEvent) -> str:
        d, n, kind = event.details, self.names, event.kind
        incident = self.export.incident
        if kind == "incident.opened":
            where = f" in {n.channel(d.get('channel'))}" if d.get("channel") else ""
            return f"Opened incident #{incident.id}{where} — {n.slack(incident.title)}"
        if kind == "incident.followed":
            return f"Made {n.channel(d.get('channel'))} follow the incident"
        if kind in ("incident.note", "note"):
            where = f" (in {n.channel(d.get('channel'))})" if d.get("channel") else ""
            return f"Note{where}: {n.slack(event.summary)}"
        if kind == "incident.closed":
            return "Closed the incident"
        if kind == "run.requested":
            run = self.runs.get(event.run_id or "")
            procedure = d.get("procedure") or (run.procedure if run else "a run")
            cluster = event.cluster or (run.cluster if run else "?")
            extra = _params(d.get("params") or {})
            return f"Requested `{procedure}` on {cluster}" + (f" ({n.plain(extra)})" if extra else "")
        if kind == "run.started":
            return f"Run started (worker {event.actor})" if event.actor else "Run started"
        if kind == "run.resumed":
            return "Run resumed by another worker after the first one stopped answering"
        if kind in ("run.succeeded", "run.failed", "run.cancelled"):
            outcome = OUTCOMES[kind.removeprefix("run.")]
            reason = d.get("error") or d.get("reason")
            return f"Run {outcome}" + (f": {n.plain(str(reason))}" if reason else "")
        if kind.startswith("step."):
            return self._step_outcome(event)
        if kind.startswith("approval."):
            return self._approval(event)
        if kind.startswith("health."):
            return self._health(event)
        return n.plain(_ids_to_names(event.summary, n))

    def _step_outcome(self, event: TimelineEvent) -> str:
        status = event.kind.removeprefix("step.")
        step = self.step(event)
        text = f"{step[:1].upper()}{step[1:]} {OUTCOMES.get(status, status)}"
        attempt = event.details.get("attempt")
        if isinstance(attempt, int) and attempt > 1:
            text += f" (attempt {attempt})"
        error = event.summary.partition(f" {status}: ")[2] if status == "failed" else ""
        return text + (f": {self.names.plain(error)}" if error else "")

    def _approval(self, event: TimelineEvent) -> str:
        d, n = event.details, self.names
        what = f"{_action(d.get('action') or self._requested_action(d))} at {self.step(event)}"
        required = self.required(d.get("approval_id"))
        approvers = [n.person(str(u)) for u in d.get("approvers") or []]
        tally = f"{len(approvers)}/{required}" if required else str(len(approvers))
        if event.kind == "approval.requested":
            expires = d.get("expires_at")
            until = f", expires {utc(dt.datetime.fromisoformat(expires))}" if isinstance(expires, str) else ""
            return f"Approval requested for {what}: {d.get('required', '?')} approvals needed{until}"
        if event.kind == "approval.vote":
            return f"**Approved** {what} ({tally})"
        if event.kind == "approval.granted":
            return f"**Approved** {what} ({tally}): granted by {', '.join(approvers)}"
        if event.kind == "approval.rejected":
            return f"**Rejected** {what}: the run stops"
        if event.kind == "approval.expired":
            who = f" ({', '.join(approvers)})" if approvers else ""
            return f"Approval of {what} **expired** with {tally} approvals{who}"
        if event.kind == "approval.voided":
            return f"Approval of {what} **voided**: {n.plain(str(d.get('reason') or 'the plan changed'))}"
        return n.plain(_ids_to_names(event.summary, n))

    def _requested_action(self, details: Mapping[str, Any]) -> Any:
        request = self.requests.get(details.get("approval_id"))
        return request.details.get("action") if request else None

    def _health(self, event: TimelineEvent) -> str:
        d = event.details
        level = d.get("level")
        if not level:
            return self.names.plain(event.summary)
        reasons = "; ".join(str(r) for r in d.get("reasons") or [])
        text = f"Health of {event.cluster or '?'} — **{level}**"
        return text + (f" ({self.names.plain(reasons)})" if reasons else "")


def _ids_to_names(text: str, names: _Names) -> str:
    return re.sub(r"\b[UW][A-Z0-9]{2,}\b", lambda m: names.person(m.group(0)), text)


def _header(export: IncidentExport, names: _Names) -> list[str]:
    incident = export.incident
    opened = f"{utc(incident.opened_at)} by {names.person(incident.opened_by)}"
    if incident.closed_at is not None:
        took = duration((incident.closed_at - incident.opened_at).total_seconds())
        closed = f"{utc(incident.closed_at)} by {names.person(incident.closed_by)} (open {took})"
        status = "closed"
    else:
        closed, status = "not yet", "open"
    following = ", ".join(
        f"{names.channel(f.channel)} (since {utc(f.followed_at)}, by {names.person(f.followed_by)})"
        for f in export.followers
    )
    by = f" by {names.person(export.exported_by)}" if export.exported_by else ""
    lines = [
        f"# Incident #{incident.id}: {' '.join(names.slack(incident.title).split())}",
        "",
        f"- **Status:** {status}",
        f"- **Opened:** {opened}",
        f"- **Closed:** {closed}",
    ]
    if incident.cluster:
        lines.append(f"- **Cluster:** {incident.cluster}")
    lines += [
        f"- **Channels following:** {following or 'none'}",
        f"- **Runs:** {_runs_tally(export.runs)}",
        f"- **Exported:** {utc(export.exported_at)}{by}. All times are UTC; secrets are redacted.",
    ]
    return lines


def _runs_tally(runs: Sequence[Run]) -> str:
    if not runs:
        return "none"
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.status] = counts.get(run.status, 0) + 1
    parts = ", ".join(f"{count} {OUTCOMES.get(s, s).strip('*').lower()}" for s, count in counts.items())
    return f"{len(runs)} ({parts})"


def _run_section(run: Run, timeline: _Timeline) -> list[str]:
    names = timeline.names
    outcome = OUTCOMES.get(run.status, run.status)
    where = f" in {names.channel(run.channel)}" if run.channel else ""
    params = _params(run.params)
    lines = [
        "",
        f"### Run `{run.id}` — {run.procedure} on {run.cluster} — {outcome}",
        "",
        f"- Requested {utc(run.created_at)} by {names.person(run.requested_by)}{where}"
        + (f" ({names.plain(params)})" if params else ""),
    ]
    if run.finished_at is not None:
        took = duration((run.finished_at - run.created_at).total_seconds())
        end = f"cancelled by {names.person(run.cancelled_by)}" if run.status == "cancelled" else outcome
        lines.append(f"- Finished {utc(run.finished_at)} ({end}, {took} after the request)")
    else:
        lines.append(f"- Not finished when exported: {outcome}")
    if run.error:
        lines.append(f"- Error: {names.cell(run.error)}")
    if run.result:
        lines.append(f"- Result: {names.cell(run.result)}")
    steps = timeline.export.steps.get(run.id, ())
    if steps:
        lines.append("- Steps:")
        lines += [f"  {_step_line(step, names)}" for step in steps]
    approvals = _approvals_of(run.id, timeline)
    if approvals:
        lines.append("- Approvals:")
        lines += [f"  - {line}" for line in approvals]
    return lines


def _step_line(step: StepRun, names: _Names) -> str:
    line = f"{step.seq}. {names.cell(step.title)} — {OUTCOMES.get(step.status, step.status)}"
    if step.destructive:
        line += " (destructive)"
    if step.attempt > 1:
        line += f", attempt {step.attempt}"
    if step.started_at is not None:
        line += f", started {utc(step.started_at)}"
        if step.finished_at is not None:
            line += f", took {duration((step.finished_at - step.started_at).total_seconds())}"
    if step.error:
        line += f": {names.cell(step.error)}"
    return line


def _approvals_of(run_id: str, timeline: _Timeline) -> list[str]:
    """One line per approval request of the run: who decided, when, and how it ended."""
    names = timeline.names
    lines: list[str] = []
    for request in (e for e in timeline.ordered if e.run_id == run_id and e.kind == "approval.requested"):
        approval_id = request.details.get("approval_id")
        decisions = [
            e
            for e in timeline.ordered
            if e.kind != "approval.requested" and e.details.get("approval_id") == approval_id
        ]
        said = []
        for event in decisions:
            verb = {
                "approval.vote": "approved by",
                "approval.granted": "approved by",
                "approval.rejected": "**rejected** by",
            }.get(event.kind)
            if verb:
                said.append(f"{verb} {names.person(event.actor)} at {utc(event.at)}")
            elif event.kind == "approval.expired":
                said.append(f"**expired** at {utc(event.at)}")
            elif event.kind == "approval.voided":
                said.append(f"**voided** at {utc(event.at)} (the plan changed)")
        final = {
            "approval.granted": "granted",
            "approval.rejected": "rejected",
            "approval.expired": "expired",
            "approval.voided": "voided",
        }.get(decisions[-1].kind if decisions else "", "undecided when exported")
        lines.append(
            f"{_action(request.details.get('action'))} at {timeline.step(request)}, "
            f"{request.details.get('required', '?')} needed, requested {utc(request.at)}: "
            + ("; ".join(said) or "no decision")
            + f". Outcome: **{final}**"
        )
    return lines


def _table(timeline: _Timeline) -> list[str]:
    names = timeline.names
    lines = ["", "## Timeline", "", "| Time (UTC) | Who | Run | What |", "|---|---|---|---|"]
    for event in timeline.ordered:
        if event.kind in NOT_IN_TABLE:
            continue
        run = f"`{event.run_id}`" if event.run_id else ""
        who, what = names.cell(timeline.who(event)), names.cell(timeline.what(event))
        lines.append(f"| {utc(event.at)} | {who} | {run} | {what} |")
    return lines


def render_incident(
    export: IncidentExport,
    *,
    names: Mapping[str, str] | None = None,
    channels: Mapping[str, str] | None = None,
) -> str:
    """The Markdown document. ``names`` maps Slack user IDs to display names, ``channels`` channel IDs to
    channel names; anything missing is shown by its ID."""
    known = _Names(dict(names or {}), dict(channels or {}))
    timeline = _Timeline(export, known)
    lines = _header(export, known)
    if export.runs:
        lines += ["", "## Runs"]
        for run in export.runs:
            lines += _run_section(run, timeline)
    lines += _table(timeline)
    return redact("\n".join(lines) + "\n")
