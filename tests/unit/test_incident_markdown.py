"""The postmortem export (pure): header, one section per run, the ordered table, names, UTC, redaction."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from bot.incident_markdown import IncidentExport, duration, render_incident, utc
from storage.models import Incident, IncidentChannel, Run, StepRun, TimelineEvent

T0 = dt.datetime(2026, 12, 1, 19, 30, 5, tzinfo=dt.UTC)
NAMES = {"U0ALICE": "alice", "U0BOB": "bob", "U0CAROL": "carol"}
CHANNELS = {"C0OPS": "etcd-ops", "C0SRE": "sre"}
CANARY = "xoxb-1234-CANARY"


def at(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def _events() -> list[TimelineEvent]:
    rows: list[tuple[int, str, str | None, str | None, str, dict[str, Any]]] = [
        (
            0,
            "incident.opened",
            None,
            "U0ALICE",
            "U0ALICE opened incident 3: etcd-2 down",
            {"channel": "C0OPS"},
        ),
        (60, "incident.followed", None, "U0BOB", "made C0SRE follow", {"channel": "C0SRE"}),
        (90, "health.changed", None, None, "lab red", {"level": "red", "reasons": ["etcd-2 is not started"]}),
        (
            120,
            "incident.note",
            None,
            "U0BOB",
            f"<@U0ALICE> token in the log: {CANARY} | pipe",
            {"channel": "C0SRE"},
        ),
        (150, "incident.note", None, "U0ALICE", "taking a backup first", {"channel": "C0OPS"}),
        (
            180,
            "run.requested",
            "r-abcde",
            "U0ALICE",
            "requested",
            {"procedure": "replace", "params": {"member": "etcd-2"}},
        ),
        (181, "run.planned", "r-abcde", None, "3 steps planned", {"steps": ["a", "b", "c"]}),
        (182, "run.started", "r-abcde", "etcdops@host", "started", {}),
        (183, "step.started", "r-abcde", None, "step 1 Check the backup", {"seq": 1}),
        (
            190,
            "step.succeeded",
            "r-abcde",
            None,
            "step 1 Check the backup succeeded",
            {"seq": 1, "attempt": 1},
        ),
        (
            191,
            "approval.requested",
            "r-abcde",
            None,
            "member_removal needs 2",
            {
                "approval_id": 7,
                "seq": 2,
                "action": "member_removal",
                "required": 2,
                "expires_at": at(1991).isoformat(),
            },
        ),
        (
            240,
            "approval.vote",
            "r-abcde",
            "U0BOB",
            "U0BOB approved",
            {"approval_id": 7, "seq": 2, "action": "member_removal", "approvers": ["U0BOB"]},
        ),
        (
            300,
            "approval.granted",
            "r-abcde",
            "U0CAROL",
            "approved",
            {"approval_id": 7, "seq": 2, "action": "member_removal", "approvers": ["U0BOB", "U0CAROL"]},
        ),
        (301, "step.started", "r-abcde", None, "step 2 Remove the member", {"seq": 2}),
        (
            310,
            "step.succeeded",
            "r-abcde",
            None,
            "step 2 Remove the member succeeded",
            {"seq": 2, "attempt": 1},
        ),
        (311, "step.started", "r-abcde", None, "step 3 Restart", {"seq": 3}),
        (
            320,
            "step.failed",
            "r-abcde",
            None,
            "step 3 Force a redeployment failed: patch refused, password=hunter2",
            {"seq": 3, "attempt": 2},
        ),
        (
            321,
            "run.failed",
            "r-abcde",
            "etcdops@host",
            "failed",
            {"error": "step 3 failed: password=hunter2"},
        ),
        (400, "incident.closed", None, "U0BOB", "closed", {}),
        (401, "incident.export_requested", None, "U0BOB", "export", {"channel": "C0SRE"}),
    ]
    return [
        TimelineEvent(
            id=i + 1,
            at=at(offset),
            kind=kind,
            run_id=run_id,
            incident_id=3 if run_id is None else None,
            cluster="lab",
            actor=actor,
            summary=summary,
            details=details,
        )
        for i, (offset, kind, run_id, actor, summary, details) in enumerate(rows)
    ]


def _step(seq: int, title: str, status: str, start: int, end: int, **more: Any) -> StepRun:
    return StepRun(
        run_id="r-abcde",
        seq=seq,
        step_id=f"s{seq}",
        title=title,
        status=status,
        started_at=at(start),
        finished_at=at(end),
        **{"attempt": 1, **more},
    )


def _export(events: list[TimelineEvent] | None = None, closed: bool = True) -> IncidentExport:
    incident = Incident(
        id=3,
        title=f"etcd-2 down (pasted {CANARY})",
        cluster="lab",
        opened_by="U0ALICE",
        opened_at=T0,
        closed_by="U0BOB" if closed else None,
        closed_at=at(400) if closed else None,
    )
    followers = [
        IncidentChannel(incident_id=3, channel="C0OPS", followed_by="U0ALICE", followed_at=T0),
        IncidentChannel(incident_id=3, channel="C0SRE", followed_by="U0BOB", followed_at=at(60)),
    ]
    run = Run(
        id="r-abcde",
        procedure="replace",
        cluster="lab",
        requested_by="U0ALICE",
        channel="C0OPS",
        params={"member": "etcd-2", "dry_run": False},
        status="failed",
        destructive=True,
        created_at=at(180),
        finished_at=at(321),
        error="step 3 failed: password=hunter2",
        incident_id=3,
    )
    steps = [
        _step(1, "Check the backup", "succeeded", 183, 190),
        _step(2, "Remove the member", "succeeded", 301, 310, destructive=True),
        _step(
            3,
            "Force a redeployment",
            "failed",
            311,
            320,
            attempt=2,
            error="patch refused\nAuthorization: Bearer abcdefCANARY",
        ),
    ]
    return IncidentExport(
        incident=incident,
        followers=followers,
        runs=[run],
        steps={"r-abcde": steps},
        events=events if events is not None else _events(),
        exported_at=at(500),
        exported_by="U0BOB",
    )


def _table_rows(markdown: str) -> list[list[str]]:
    table = markdown.split("## Timeline", 1)[1]
    rows = [line for line in table.splitlines() if line.startswith("| 20")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def test_the_header_says_what_who_when_and_where() -> None:
    markdown = render_incident(_export(), names=NAMES, channels=CHANNELS)
    assert markdown.startswith("# Incident #3: etcd-2 down (pasted «redacted»)\n")
    assert "- **Status:** closed" in markdown
    assert "- **Opened:** 2026-12-01 19:30:05 UTC by alice" in markdown
    assert "- **Closed:** 2026-12-01 19:36:45 UTC by bob (open 6 min 40 s)" in markdown
    assert (
        "#etcd-ops (since 2026-12-01 19:30:05 UTC, by alice), #sre (since 2026-12-01 19:31:05 UTC, by bob)"
        in (markdown)
    )
    assert (
        "- **Exported:** 2026-12-01 19:38:25 UTC by bob. All times are UTC; secrets are redacted." in markdown
    )


def test_a_run_section_shows_its_steps_approvals_and_outcome() -> None:
    markdown = render_incident(_export(), names=NAMES, channels=CHANNELS)
    section = markdown.split("### Run `r-abcde`", 1)[1].split("## Timeline", 1)[0]
    assert section.startswith(" — replace on lab — **FAILED**")
    assert "- Requested 2026-12-01 19:33:05 UTC by alice in #etcd-ops (member etcd-2)" in section
    assert "- Finished 2026-12-01 19:35:26 UTC (**FAILED**, 2 min 21 s after the request)" in section
    assert "1. Check the backup — **succeeded**, started 2026-12-01 19:33:08 UTC, took 7 s" in section
    assert "2. Remove the member — **succeeded** (destructive)" in section
    assert "3. Force a redeployment — **FAILED**, attempt 2" in section
    assert "patch refused<br>Authorization: Bearer «redacted»" in section
    assert (
        "member removal at step 2 “Remove the member”, 2 needed, requested 2026-12-01 19:33:16 UTC: "
        "approved by bob at 2026-12-01 19:34:05 UTC; approved by carol at 2026-12-01 19:35:05 UTC. "
        "Outcome: **granted**"
    ) in section


def test_the_timeline_is_one_ordered_table_with_who_and_what() -> None:
    shuffled = list(reversed(_events()))
    markdown = render_incident(_export(shuffled), names=NAMES, channels=CHANNELS)
    rows = _table_rows(markdown)
    times = [row[0] for row in rows]
    assert times == sorted(times) and all(t.endswith(" UTC") for t in times)
    what = [row[3] for row in rows]
    assert what[0] == "Opened incident #3 in #etcd-ops — etcd-2 down (pasted «redacted»)"
    assert rows[0][1] == "alice"
    assert "Made #sre follow the incident" in what
    assert "Health of lab — **red** (etcd-2 is not started)" in what
    assert "Note (in #sre): alice token in the log: «redacted» \\| pipe" in what
    assert "Note (in #etcd-ops): taking a backup first" in what
    assert "Requested `replace` on lab (member etcd-2)" in what
    assert "**Approved** member removal at step 2 “Remove the member” (1/2)" in what
    assert "**Approved** member removal at step 2 “Remove the member” (2/2): granted by bob, carol" in what
    assert "Step 3 “Force a redeployment” **FAILED** (attempt 2): patch refused, password=«redacted»" in what
    assert "Run **FAILED**: step 3 failed: password=«redacted»" in what
    assert what[-1] == "Closed the incident"
    by_what = {row[3]: row for row in rows}
    assert by_what["Run **FAILED**: step 3 failed: password=«redacted»"][1] == "etcdops"
    assert by_what["Run **FAILED**: step 3 failed: password=«redacted»"][2] == "`r-abcde`"
    assert by_what["**Approved** member removal at step 2 “Remove the member” (1/2)"][1] == "bob"
    assert not [w for w in what if "started" in w and "step" in w and "Run" not in w], (
        "step starts are in the run"
    )
    assert not [w for w in what if "export" in w.lower()]


def test_no_secret_survives_anywhere() -> None:
    markdown = render_incident(_export(), names=NAMES, channels=CHANNELS)
    assert "CANARY" not in markdown and "hunter2" not in markdown
    assert markdown.count("«redacted»") >= 5


def test_unknown_people_and_channels_are_shown_by_id() -> None:
    markdown = render_incident(_export())
    assert "- **Opened:** 2026-12-01 19:30:05 UTC by U0ALICE" in markdown
    assert "C0OPS (since 2026-12-01 19:30:05 UTC, by U0ALICE)" in markdown
    assert "Note (in C0SRE): U0ALICE token in the log" in markdown


def test_an_open_incident_and_runs_not_finished() -> None:
    events = [e for e in _events() if e.id is not None and e.id <= 13]
    export = _export(events, closed=False)
    run = export.runs[0]
    run.status, run.finished_at, run.error = "waiting_approval", None, None
    markdown = render_incident(export, names=NAMES, channels=CHANNELS)
    assert "- **Status:** open" in markdown and "- **Closed:** not yet" in markdown
    assert "- Not finished when exported: waiting for approval" in markdown


def test_times_and_durations() -> None:
    assert utc(dt.datetime(2026, 12, 1, 20, 30, 5, tzinfo=dt.timezone(dt.timedelta(hours=1)))) == (
        "2026-12-01 19:30:05 UTC"
    )
    assert [duration(s) for s in (0, 45, 723, 7500)] == ["0 s", "45 s", "12 min 3 s", "2 h 5 min"]


def test_rejections_expiries_and_secret_words_in_step_titles_read_right() -> None:
    title = "Delete its peer, serving and metrics secrets"
    approval = {"seq": 2, "action": "secret_deletion"}
    rows: list[tuple[int, str, str | None, dict[str, Any]]] = [
        (0, "approval.requested", None, {**approval, "approval_id": 1, "required": 2}),
        (10, "approval.rejected", "U0CAROL", {**approval, "approval_id": 1, "approvers": []}),
        (20, "approval.requested", None, {**approval, "approval_id": 2, "required": 2}),
        (30, "approval.vote", "U0BOB", {**approval, "approval_id": 2, "approvers": ["U0BOB"]}),
        (40, "approval.expired", None, {"approval_id": 2, "seq": 2, "approvers": ["U0BOB"]}),
        (50, "step.succeeded", None, {"seq": 2, "attempt": 1}),
    ]
    events = [
        TimelineEvent(id=i, at=at(s), kind=k, run_id="r-abcde", actor=a, summary=k, details=d)
        for i, (s, k, a, d) in enumerate(rows, start=1)
    ]
    export = _export(events)
    export.steps["r-abcde"][1].title = title
    markdown = render_incident(export, names=NAMES)
    what = [row[3] for row in _table_rows(markdown)]
    assert (
        "**Rejected** secret deletion at step 2 “Delete its peer, serving and metrics secrets”: the run stops"
        in what
    )
    assert (
        "Approval of secret deletion at step 2 “Delete its peer, serving and metrics secrets” **expired** "
        "with 1/2 approvals (bob)" in what
    )
    assert "Step 2 “Delete its peer, serving and metrics secrets” **succeeded**" in what
    assert f"2. {title} — **succeeded** (destructive)" in markdown
    assert "**rejected** by carol at 2026-12-01 19:30:15 UTC. Outcome: **rejected**" in markdown
    assert (
        "approved by bob at 2026-12-01 19:30:35 UTC; **expired** at 2026-12-01 19:30:45 UTC. "
        "Outcome: **expired**" in markdown
    )
    assert "«redacted»" not in markdown.split("## Runs", 1)[1].replace("password=«redacted»", "").replace(
        "Bearer «redacted»", ""
    )
