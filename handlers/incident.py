"""``/etcd incident open TITLE | note TEXT | follow INCIDENT | close | export [INCIDENT]``.

An incident gathers, on one timeline, what several channels did about one problem: the runs started from
the channels following it (with their steps and approvals), the health changes of its clusters, and
people's notes. A channel follows one open incident at a time, so nobody has to wonder where a run or a
note went: a second ``open`` in the same channel (two people paged by the same alert) is refused with the
incident already open, and so is following a second one.

Titles and notes are redacted before they are stored: a token pasted into a note never reaches the
timeline, Slack or the export. When something was redacted the answer is private, because an
``in_channel`` answer would also show the command as typed to the whole channel.

``export`` only records the request; the relay uploads the Markdown file after the ack
(:mod:`bot.incident_export`).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session

from bot.grammar import Incident as IncidentCommand
from bot.incident_markdown import duration
from bot.targets import UnknownCluster
from handlers.deps import BotDeps, Reply, Request
from storage import incidents
from storage.errors import NotFoundError
from storage.models import ACTIVE_RUN_STATUSES, Incident
from storage.redact import REDACTED, redact

Action = Callable[[IncidentCommand, Request, BotDeps, Session], Reply]
TITLE_LIMIT = 200  # the incident table's title column
HOW_TO_START = (
    "Open one with `/etcd incident open TITLE`, or follow an open one with `/etcd incident follow #N`."
)


def _named(incident: Incident, *, capital: bool = False) -> str:
    return f"{'I' if capital else 'i'}ncident #{incident.id} “{incident.title}”"


def _at(incident: Incident) -> str:
    return f"{incident.opened_at:%Y-%m-%d %H:%M} UTC"


def _unknown(number: int) -> Reply:
    return Reply(
        f":warning: There is no incident #{number}. Its number is in the message that opened it "
        "(`/etcd incident open` answers with it)."
    )


def _default_cluster(request: Request, deps: BotDeps) -> str | None:
    try:
        return request.cluster(None, deps).name
    except UnknownCluster:
        return None


def _open(command: IncidentCommand, request: Request, deps: BotDeps, session: Session) -> Reply:
    title = redact(command.text)
    if len(title) > TITLE_LIMIT:
        return Reply(
            f":warning: That title is {len(title)} characters; keep it under {TITLE_LIMIT} and put the "
            "details in a note (`/etcd incident note TEXT`) once it is open."
        )
    cluster = _default_cluster(request, deps)
    incident, opened = incidents.open_in_channel(
        session=session, title=title, opened_by=request.user_id, channel=request.channel_id, cluster=cluster
    )
    if not opened:
        return Reply(
            f":warning: This channel already follows {_named(incident)}, opened by <@{incident.opened_by}> "
            f"at {_at(incident)}: runs and notes from here go to it. Add to it with "
            f"`/etcd incident note TEXT`; if yours is a different incident, close that one first with "
            f"`/etcd incident close #{incident.id}`, or open yours from another channel."
        )
    joins = f"health changes of *{cluster}*, " if cluster else ""
    text = (
        f":rotating_light: <@{request.user_id}> opened incident #{incident.id}: *{incident.title}*. "
        f"From now on the runs started here (with their approvals), {joins}and notes "
        f"(`/etcd incident note TEXT`) join its timeline. Other channels follow it with "
        f"`/etcd incident follow #{incident.id}`; `/etcd incident close` ends it and "
        f"`/etcd incident export` posts the timeline as Markdown."
    )
    if title != command.text:
        return Reply(f"{text}\n:lock: A secret-looking value in the title was replaced by {REDACTED}.")
    return Reply(text, in_channel=True)


def _note(command: IncidentCommand, request: Request, deps: BotDeps, session: Session) -> Reply:
    incident = incidents.active_incident_for_channel(request.channel_id, session=session)
    if incident is None:
        return Reply(
            f":warning: This channel follows no open incident, so the note was not kept. {HOW_TO_START}"
        )
    text = redact(command.text)
    assert incident.id is not None
    incidents.add_note(incident.id, text, session=session, author=request.user_id, channel=request.channel_id)
    if text != command.text:
        return Reply(
            f":memo: Noted on {_named(incident)}, with a secret-looking value replaced by {REDACTED}: "
            "secrets never reach the timeline. (Only you see this answer, so your command was not "
            "shown to the channel.)"
        )
    return Reply(f":memo: <@{request.user_id}> added a note to {_named(incident)}.", in_channel=True)


def _follow(command: IncidentCommand, request: Request, deps: BotDeps, session: Session) -> Reply:
    assert command.incident is not None  # the grammar insists on the number
    try:
        incident = incidents.get_incident(command.incident, session=session)
    except NotFoundError:
        return _unknown(command.incident)
    if incident.closed_at is not None:
        return Reply(
            f":warning: {_named(incident, capital=True)} was closed by <@{incident.closed_by}> at "
            f"{incident.closed_at:%Y-%m-%d %H:%M} UTC: there is nothing left to follow. "
            f"`/etcd incident export #{incident.id}` posts its timeline."
        )
    current = incidents.active_incident_for_channel(request.channel_id, session=session)
    if current is not None and current.id == incident.id:
        return Reply(f"This channel already follows {_named(incident)}; runs and notes from here go to it.")
    if current is not None:
        return Reply(
            f":warning: This channel already follows {_named(current)}, and a channel follows one open "
            f"incident at a time so that its runs and notes have one place to go. Follow #{incident.id} "
            f"from another channel, or close #{current.id} first with `/etcd incident close #{current.id}`."
        )
    assert incident.id is not None
    if not incidents.follow_incident(
        incident.id, request.channel_id, session=session, followed_by=request.user_id
    ):
        return Reply(f"This channel already follows {_named(incident)}; runs and notes from here go to it.")
    origin = incidents.followers(incident.id, session=session)
    where = f" in <#{origin[0].channel}>" if origin else ""
    return Reply(
        f":link: <@{request.user_id}> made this channel follow incident #{incident.id}: *{incident.title}* "
        f"(opened by <@{incident.opened_by}>{where} at {_at(incident)}). Runs started here, their "
        f"approvals and notes (`/etcd incident note TEXT`) now join its timeline.",
        in_channel=True,
    )


def _target(
    command: IncidentCommand, request: Request, session: Session, *, closed_too: bool
) -> Incident | Reply:
    """The incident the command names, else the channel's (its open one; with ``closed_too``, else the
    newest it followed), or the answer saying there is none."""
    if command.incident is not None:
        try:
            return incidents.get_incident(command.incident, session=session)
        except NotFoundError:
            return _unknown(command.incident)
    if closed_too:
        found = incidents.latest_incident_for_channel(request.channel_id, session=session)
    else:
        found = incidents.active_incident_for_channel(request.channel_id, session=session)
    if found is not None:
        return found
    if closed_too:
        return Reply(
            ":warning: This channel has never followed an incident. Name the incident: "
            "`/etcd incident export #N`."
        )
    return Reply(
        ":warning: This channel follows no open incident. Name the one to close: `/etcd incident close #N`."
    )


def _close(command: IncidentCommand, request: Request, deps: BotDeps, session: Session) -> Reply:
    found = _target(command, request, session, closed_too=False)
    if isinstance(found, Reply):
        return found
    assert found.id is not None
    if found.closed_at is not None:
        return Reply(
            f"{_named(found, capital=True)} was already closed by <@{found.closed_by}> at "
            f"{found.closed_at:%Y-%m-%d %H:%M} UTC; nothing changed. "
            f"`/etcd incident export #{found.id}` posts its timeline."
        )
    incident = incidents.close_incident(found.id, session=session, closed_by=request.user_id)
    assert incident.closed_at is not None
    still = [
        f"`{run.id}`"
        for run in incidents.incident_runs(found.id, session=session)
        if run.status in ACTIVE_RUN_STATUSES
    ]
    running = (
        f" Runs still under way ({', '.join(still)}) keep adding their steps to its timeline."
        if still
        else ""
    )
    took = duration((incident.closed_at - incident.opened_at).total_seconds())
    return Reply(
        f":white_check_mark: <@{request.user_id}> closed incident #{incident.id}: *{incident.title}* "
        f"(open {took}). New runs from its channels are no longer filed under it.{running} "
        f"`/etcd incident export #{incident.id}` posts its timeline for the postmortem.",
        in_channel=True,
    )


def _export(command: IncidentCommand, request: Request, deps: BotDeps, session: Session) -> Reply:
    found = _target(command, request, session, closed_too=True)
    if isinstance(found, Reply):
        return found
    assert found.id is not None
    incidents.request_export(
        found.id, session=session, requested_by=request.user_id, channel=request.channel_id
    )
    state = "open" if found.closed_at is None else "closed"
    return Reply(
        f":page_facing_up: Exporting the timeline of {_named(found)} ({state}): the Markdown file is "
        "posted in this channel in a moment, with secrets redacted."
    )


ACTIONS: dict[str, Action] = {
    "open": _open,
    "note": _note,
    "follow": _follow,
    "close": _close,
    "export": _export,
}


def handle(command: IncidentCommand, request: Request, deps: BotDeps) -> Reply:
    with deps.sessions() as session:
        return ACTIONS[command.action](command, request, deps, session)
