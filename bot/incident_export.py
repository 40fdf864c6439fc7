"""Posting an incident's timeline as a Markdown file: the second half of ``/etcd incident export``.

The command only records an ``incident.export_requested`` event and acks at once; the relay, which reads
every event anyway and holds the app's Slack client, hands each such event to :func:`post_export`. So
the upload never holds up Slack's 3 seconds, and an export asked for while Slack is down is posted when
it is back. Reading storage and asking Slack for names happen here; the document itself is made by
:mod:`bot.incident_markdown` (pure), which redacts it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.incident_markdown import IncidentExport, render_incident
from storage import incidents, journal
from storage.db import SessionFactory
from storage.errors import NotFoundError
from storage.models import TimelineEvent, utcnow
from storage.redact import redact
from storage.timeline import events_for_incident

log = logging.getLogger(__name__)

SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")


def load_export(incident_id: int, *, sessions: SessionFactory, exported_by: str | None) -> IncidentExport:
    """Everything the document shows, read in one session."""
    with sessions() as session:
        incident = incidents.get_incident(incident_id, session=session)
        runs = list(incidents.incident_runs(incident_id, session=session))
        return IncidentExport(
            incident=incident,
            followers=list(incidents.followers(incident_id, session=session)),
            runs=runs,
            steps={run.id: list(journal.steps_of(run.id, session=session)) for run in runs},
            events=list(events_for_incident(incident_id, session=session)),
            exported_at=utcnow(),
            exported_by=exported_by,
        )


def people_in(export: IncidentExport) -> set[str]:
    """The Slack user IDs the document mentions."""
    found = {export.incident.opened_by, export.incident.closed_by or "", export.exported_by or ""}
    found |= {f.followed_by for f in export.followers}
    found |= {r.requested_by for r in export.runs} | {r.cancelled_by or "" for r in export.runs}
    for event in export.events:
        found.add(event.actor or "")
        found |= {str(u) for u in event.details.get("approvers") or []}
        found |= set(re.findall(r"<@([UW][A-Z0-9]{2,})", event.summary))
    return {who for who in found if SLACK_USER.match(who)}


def display_names(client: WebClient, users: Iterable[str]) -> dict[str, str]:
    """Slack user ID → the name people know them by; an ID Slack will not resolve stays an ID."""
    names: dict[str, str] = {}
    for user in sorted(users):
        try:
            info = client.users_info(user=user)["user"] or {}
        except SlackApiError:
            continue
        profile = info.get("profile") or {}
        name = profile.get("display_name") or info.get("real_name") or info.get("name")
        if name:
            names[user] = str(name)
    return names


def channel_names(client: WebClient, channels: Iterable[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for channel in sorted(channels):
        try:
            name = (client.conversations_info(channel=channel)["channel"] or {}).get("name")
        except SlackApiError:
            continue
        if name:
            names[channel] = str(name)
    return names


def post_export(event: TimelineEvent, *, sessions: SessionFactory, client: WebClient) -> None:
    """Upload the Markdown timeline the ``incident.export_requested`` ``event`` asked for."""
    channel = str(event.details.get("channel") or "")
    if event.incident_id is None or not channel:
        log.error("export request %s names no incident or channel; ignored", event.id)
        return
    try:
        export = load_export(event.incident_id, sessions=sessions, exported_by=event.actor)
    except NotFoundError:
        log.error("export request %s: incident %s is gone", event.id, event.incident_id)
        return
    mentioned_channels = {f.channel for f in export.followers} | {r.channel for r in export.runs if r.channel}
    mentioned_channels |= {str(e.details["channel"]) for e in export.events if e.details.get("channel")}
    names = display_names(client, people_in(export))  # Slack unreachable: raised, the relay retries
    channels = channel_names(client, mentioned_channels)
    try:
        markdown = render_incident(export, names=names, channels=channels)
    except Exception:  # a bug here must not hold up every later message of the relay
        log.exception("could not render the timeline of incident %s; export skipped", event.incident_id)
        return
    incident = export.incident
    title = redact(" ".join(incident.title.split()))
    try:
        client.files_upload_v2(
            channel=channel,
            filename=f"incident-{incident.id}-timeline.md",
            title=f"Incident #{incident.id} timeline: {title}"[:250],
            content=markdown,
            initial_comment=(
                f":page_facing_up: The timeline of incident #{incident.id} ({title}) for the postmortem, "
                f"as asked by <@{event.actor}>. Times are UTC; secrets are redacted."
            ),
        )
    except SlackApiError as exc:
        log.error("could not post the timeline of incident %s: %s", incident.id, exc.response.get("error"))
