"""Incidents through the local Slack, as real users in two channels: open, follow, notes, a run joining,
close, and the export uploaded as a Markdown file (ordered, UTC, both channels, no secret in it)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from bot.settings import Settings
from lab.slack import CommandResult, LocalSlackThread, SlackConfig, SlackDriver
from lab.slack.config import ChannelSpec
from storage import timeline
from storage.db import make_engine, make_session_factory

OPS, SRE = "#etcd-ops", "#sre"
CANARY = "xoxb-1234-CANARY"


@pytest.fixture(scope="module")
def local_slack() -> Iterator[tuple[LocalSlackThread, SlackConfig]]:
    config = SlackConfig(channels=(ChannelSpec("C0ETCDOPS", "etcd-ops"), ChannelSpec("C0SRE", "sre")))
    with LocalSlackThread(config) as slack:
        yield slack, config


def _only_reply(result: CommandResult, *, public: bool) -> str:
    assert result.acked and result.ack_latency_ms is not None and result.ack_latency_ms < 3000
    replies = result.in_channel if public else result.ephemeral
    assert len(replies) == 1, [m.text for m in result.replies]
    return replies[0].text


def test_an_incident_followed_from_two_channels_is_exported_as_markdown(
    socket_bot: SlackDriver, settings: Settings
) -> None:
    bot = socket_bot
    _only_reply(bot.slash("alice", OPS, "/etcd", "use lab"), public=True)
    opened = _only_reply(bot.slash("alice", OPS, "/etcd", "incident open etcd-2 is down"), public=True)
    found = re.search(r"opened incident #(\d+): \*etcd-2 is down\*", opened)
    assert found, opened
    number = int(found.group(1))
    assert f"`/etcd incident follow #{number}`" in opened and "health changes of *lab*" in opened

    twice = _only_reply(bot.slash("bob", OPS, "/etcd", "incident open same page"), public=False)
    assert f"already follows incident #{number} “etcd-2 is down”" in twice
    unknown = _only_reply(bot.slash("bob", SRE, "/etcd", "incident follow #999"), public=False)
    assert "There is no incident #999" in unknown
    no_incident = _only_reply(bot.slash("bob", SRE, "/etcd", "incident note too early"), public=False)
    assert "follows no open incident" in no_incident and "/etcd incident follow #N" in no_incident

    followed = _only_reply(bot.slash("bob", SRE, "/etcd", f"incident follow #{number}"), public=True)
    assert f"made this channel follow incident #{number}" in followed and "<#C0ETCDOPS>" in followed
    again = _only_reply(bot.slash("bob", SRE, "/etcd", f"incident follow {number}"), public=False)
    assert "already follows" in again

    noted = _only_reply(
        bot.slash("bob", SRE, "/etcd", "incident note etcd-2 kubelet is crash-looping"), public=True
    )
    assert f"added a note to incident #{number}" in noted
    secret = _only_reply(
        bot.slash("alice", OPS, "/etcd", f"incident note the bot token {CANARY} leaked"), public=False
    )
    assert "«redacted»" in secret and CANARY not in secret

    status = _only_reply(bot.slash("alice", OPS, "/etcd", "status"), public=False)
    run_id = status.split("(run `")[1].split("`")[0]
    bot.wait_for(
        OPS, lambda ms: next((m for m in ms if "the Kubernetes API is unreachable" in m.text), None), 20
    )

    closed = _only_reply(bot.slash("bob", SRE, "/etcd", "incident close"), public=True)
    assert f"closed incident #{number}" in closed and f"`/etcd incident export #{number}`" in closed
    late = _only_reply(bot.slash("bob", SRE, "/etcd", f"incident close #{number}"), public=False)
    assert "was already closed by <@U0BOB>" in late

    exporting = _only_reply(bot.slash("alice", OPS, "/etcd", "incident export"), public=False)
    assert f"Exporting the timeline of incident #{number}" in exporting
    posted = bot.wait_for(OPS, lambda ms: next((m for m in ms if m.files), None), 10)
    assert "The timeline of incident" in posted.text and posted.ephemeral_to is None
    [record] = bot.files(OPS)
    assert record.name == f"incident-{number}-timeline.md" and record.completed
    assert posted.files == [record.id]
    markdown = record.content.decode()

    assert markdown.startswith(f"# Incident #{number}: etcd-2 is down\n")
    assert "- **Status:** closed" in markdown
    assert re.search(r"- \*\*Opened:\*\* \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by alice", markdown)
    assert re.search(r"- \*\*Closed:\*\* .* UTC by bob", markdown)
    assert re.search(r"#etcd-ops \(since .* UTC, by alice\), #sre \(since .* UTC, by bob\)", markdown)
    assert f"### Run `{run_id}` — status on lab" in markdown

    rows = [line for line in markdown.split("## Timeline", 1)[1].splitlines() if line.startswith("| 20")]
    times = [row.split("|")[1].strip() for row in rows]
    assert times == sorted(times) and all(t.endswith(" UTC") for t in times)
    whats = [row.rsplit("|", 2)[1].strip() for row in rows]
    sre_note = whats.index("Note (in #sre): etcd-2 kubelet is crash-looping")
    ops_note = whats.index("Note (in #etcd-ops): the bot token «redacted» leaked")
    requested = whats.index("Requested `status` on lab")
    assert whats[0].startswith(f"Opened incident #{number} in #etcd-ops")
    assert whats.index("Made #sre follow the incident") < sre_note < ops_note < requested
    assert whats[-1] == "Closed the incident"
    assert CANARY not in markdown and "CANARY" not in markdown
    assert "U0ALICE" not in markdown and "U0BOB" not in markdown, "people are shown by name"

    # The secret never reached the timeline either, nor any message of the channels.
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            events = timeline.events_for_incident(number, session=session)
    finally:
        engine.dispose()
    assert any(e.kind == "incident.note" and "«redacted»" in e.summary for e in events)
    assert not [e for e in events if CANARY in e.summary or CANARY in str(e.details)]
    assert run_id in {e.run_id for e in events}, "the status run joined the incident"
    for channel in (OPS, SRE):
        assert not [m for m in bot.transcript(channel, as_user="*") if CANARY in m.text]


def test_export_names_an_incident_and_unknown_ones_are_refused(socket_bot: SlackDriver) -> None:
    bot = socket_bot
    opened = _only_reply(bot.slash("carol", SRE, "/etcd", "incident open disk full on master-1"), public=True)
    number = int(re.search(r"incident #(\d+)", opened).group(1))  # type: ignore[union-attr]
    before = len(bot.files(OPS))
    exporting = _only_reply(bot.slash("alice", OPS, "/etcd", f"incident export #{number}"), public=False)
    assert f"incident #{number} “disk full on master-1” (open)" in exporting
    bot.wait_for(OPS, lambda ms: len([m for m in ms if m.files]) > before, 10)
    newest = bot.files(OPS)[-1]
    assert newest.name == f"incident-{number}-timeline.md"
    assert "- **Status:** open" in newest.content.decode()
    missing = _only_reply(bot.slash("alice", OPS, "/etcd", "incident export #404"), public=False)
    long = _only_reply(bot.slash("alice", SRE, "/etcd", "incident open " + "x" * 250), public=False)
    assert "keep it under 200" in long
    assert "There is no incident #404" in missing

    other = _only_reply(bot.slash("alice", OPS, "/etcd", "incident open api slow"), public=True)
    other_number = int(re.search(r"incident #(\d+)", other).group(1))  # type: ignore[union-attr]
    busy = _only_reply(bot.slash("alice", OPS, "/etcd", f"incident follow #{number}"), public=False)
    assert f"already follows incident #{other_number} “api slow”" in busy and "one open incident" in busy
    _only_reply(bot.slash("carol", SRE, "/etcd", "incident close"), public=True)
    gone = _only_reply(bot.slash("alice", OPS, "/etcd", f"incident follow #{number}"), public=False)
    assert f"Incident #{number} “disk full on master-1” was closed by <@U0CAROL>" in gone
    _only_reply(bot.slash("alice", OPS, "/etcd", f"incident close #{other_number}"), public=True)
