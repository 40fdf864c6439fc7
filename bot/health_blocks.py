"""Block Kit for health reports (pure): one cluster in detail, many clusters at a glance, and a change.

The colour comes first so a channel scrolled at 3 a.m. is read by its circles; then the reasons, worst
first, as the classifier wrote them; then the members as a small table. A change message leads with what
changed ("turned RED: member master-0 is unhealthy", "recovered"), since that is why it was posted.
Text from the cluster is escaped for mrkdwn, and each block stays inside Slack's size limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runner.health import (
    HealthReport,
    HealthState,
    Level,
    human_duration,
    member_label,
    parse_signature,
    size_text,
    state_of,
)

LEVEL_ICONS = {
    Level.GREEN: ":large_green_circle:",
    Level.AMBER: ":large_orange_circle:",
    Level.RED: ":red_circle:",
}
REASON_ICONS = {Level.AMBER: ":warning:", Level.RED: ":x:"}
SECTION_LIMIT = 3000  # characters in a section's text
TEXT_LIMIT = 40000  # characters of a message's text (Slack cuts the rest)
BLOCK_LIMIT = 50  # blocks in a message
REASONS_PER_CLUSTER = 5  # in a report over many clusters


def escape(text: str) -> str:
    """mrkdwn treats ``<...>`` as links and mentions: text from the cluster must not."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _fit(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _fit(text)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _fit(text)}]}


def _reason_lines(report: HealthReport, limit: int | None = None) -> list[str]:
    shown = report.findings if limit is None else report.findings[:limit]
    lines = [f"{REASON_ICONS.get(f.level, '•')} {escape(f.text)}" for f in shown]
    if len(report.findings) > len(shown):
        lines.append(f"…and {len(report.findings) - len(shown)} more")
    return lines


def _members_word(count: int) -> str:
    return f"{count} member{'s' if count != 1 else ''}"


def _share(size: int | None, quota: int) -> str:
    return "?" if size is None or quota <= 0 else f"{size * 100 // quota}%"


def member_table(report: HealthReport) -> str:
    """The members as a fixed-width table (name, ID, health, leader, DB size and share of the quota)."""
    facts = report.facts
    if facts is None or not facts.status.members:
        return ""
    rows = [("MEMBER", "ID", "HEALTH", "LEADER", "DB", "QUOTA", "REVISION")]
    for m in facts.status.members:
        rows.append(
            (
                member_label(m),
                m.id,
                "healthy" if m.healthy else "UNHEALTHY",
                "leader" if m.leader else "",
                "?" if m.db_size is None else size_text(m.db_size),
                _share(m.db_size, facts.quota_bytes),
                "?" if m.revision is None else str(m.revision),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "```" + escape("\n".join(lines)) + "```"


def _footer(report: HealthReport) -> str:
    """Backup age, certificate expiry, CSRs and quota, whatever the level (the numbers behind it)."""
    parts = []
    facts = report.facts
    now = report.checked_at
    if facts is not None:
        status = facts.status
        last = status.last_backup_at
        parts.append(f"last good backup {human_duration(now - last)} ago" if last else "no backup recorded")
        if status.cert_expiry:
            soonest = min(status.cert_expiry.values())
            parts.append(
                f"certificates expire in {human_duration(soonest - now)}"
                if soonest > now
                else "a certificate has EXPIRED"
            )
        if facts.api_reachable and not facts.csr_error:
            parts.append(
                f"{len(facts.pending_csrs)} pending CSR{'s' if len(facts.pending_csrs) != 1 else ''}"
            )
        parts.append(f"quota {size_text(facts.quota_bytes)}")
    parts.append(f"checked {now:%Y-%m-%d %H:%M} UTC")
    return " · ".join(parts)


def _title(report: HealthReport) -> str:
    return f"{LEVEL_ICONS[report.level]} *{escape(report.cluster)}* is {report.level.value.upper()}"


def _body(report: HealthReport) -> tuple[list[str], list[dict[str, Any]]]:
    """The detail under a headline: reasons, member table, footer — as text lines and as blocks."""
    reasons = _reason_lines(report)
    table = member_table(report)
    footer = _footer(report)
    blocks: list[dict[str, Any]] = []
    if reasons:
        blocks.append(_section("\n".join(reasons)))
    if table:
        blocks.append(_section(table))
    blocks.append(_context(footer))
    return [*reasons, *([table] if table else []), footer], blocks


def _green_summary(report: HealthReport) -> str:
    facts = report.facts
    count = len(facts.status.members) if facts else 0
    return f"all {_members_word(count)} healthy" if count else "all members healthy"


def render_report(report: HealthReport) -> tuple[str, list[dict[str, Any]]]:
    """One cluster's scheduled report: (fallback text, blocks)."""
    headline = _title(report) + (f": {_green_summary(report)}" if report.level is Level.GREEN else "")
    lines, body = _body(report)
    return "\n".join([headline, *lines]), [_section(headline), *body]


def render_reports(
    reports: Sequence[HealthReport], title: str = "etcd health"
) -> tuple[str, list[dict[str, Any]]]:
    """Many clusters in one message: a tally, then each red and amber cluster with its reasons (worst
    first, in the given order within a level), then the green ones on one line."""
    counts = {level: sum(1 for r in reports if r.level is level) for level in Level}
    tally = ", ".join(f"{counts[level]} {level.value}" for level in (Level.RED, Level.AMBER, Level.GREEN))
    worst = max((r.level for r in reports), key=lambda level: level.rank, default=Level.GREEN)
    headline = f"{LEVEL_ICONS[worst]} *{escape(title)}* — {len(reports)} clusters: {tally}"
    troubled = sorted((r for r in reports if r.level is not Level.GREEN), key=lambda r: -r.level.rank)
    green = [r for r in reports if r.level is Level.GREEN]
    lines = [headline]
    blocks: list[dict[str, Any]] = [_section(headline)]
    room = BLOCK_LIMIT - 3  # the headline, the green line, a "not shown" line
    for index, report in enumerate(troubled):
        section = "\n".join([_title(report), *_reason_lines(report, REASONS_PER_CLUSTER)])
        lines.append(section)
        if index < room:
            blocks.append(_section(section))
    if len(troubled) > room:
        rest = ", ".join(f"{escape(r.cluster)} ({r.level.value})" for r in troubled[room:])
        blocks.append(_context(f"…and {len(troubled) - room} more clusters not shown in detail: {rest}"))
    if green:
        names = ", ".join(escape(r.cluster) for r in green)
        line = f"{LEVEL_ICONS[Level.GREEN]} green: {names}"
        lines.append(line)
        blocks.append(_section(line))
    return _fit("\n".join(lines), TEXT_LIMIT), blocks


def _previous(signature: str | None) -> HealthState | None:
    if signature is None:
        return None
    try:
        return parse_signature(signature)
    except ValueError:
        return None  # an unreadable stored state: say the current one, as for a first report


def _members_phrase(names: Sequence[str], verbs: tuple[str, str]) -> str:
    """``member a is unhealthy`` / ``members a, b are unhealthy`` (verbs: singular, plural)."""
    if len(names) == 1:
        return f"member {escape(names[0])} {verbs[0]}"
    return f"members {escape(', '.join(names))} {verbs[1]}"


UNHEALTHY = ("is unhealthy", "are unhealthy")
RECOVERED = ("recovered", "recovered")


def change_headline(report: HealthReport, previous_signature: str | None) -> str:
    """What changed since the last posted state: turned RED / AMBER, improved, recovered, still."""
    before = _previous(previous_signature)
    now = state_of(report)
    icon, name, level = LEVEL_ICONS[report.level], f"*{escape(report.cluster)}*", report.level.value.upper()
    if report.level is Level.GREEN:
        return f"{icon} {name} recovered: {_green_summary(report)}"
    newly = [m for m in now.unhealthy_members if before is None or m not in before.unhealthy_members]
    back = [m for m in (before.unhealthy_members if before else ()) if m not in now.unhealthy_members]
    if not now.reachable:
        back = []  # not seen is not recovered
    first = escape(report.reasons[0]) if report.reasons else "no reason recorded"
    cause = _members_phrase(newly, UNHEALTHY) if newly else first
    if before is None:
        return f"{icon} {name} is {level}: {cause}"
    if report.level.rank > before.level.rank:
        return f"{icon} {name} turned {level}: {cause}"
    if report.level.rank < before.level.rank:
        recovered = f"{_members_phrase(back, ('recovered', 'recovered'))}; " if back else ""
        return f"{icon} {name} improved to {level}: {recovered}still {first}"
    if newly:
        return f"{icon} {name} still {level}, and now {cause}"
    if back:
        return (
            f"{icon} {name} still {level}: {_members_phrase(back, ('recovered', 'recovered'))}, but {first}"
        )
    return f"{icon} {name} still {level}: {first}"


def render_change(report: HealthReport, previous_signature: str | None) -> tuple[str, list[dict[str, Any]]]:
    """The on-change message: the headline of what changed, then the same detail as a report."""
    headline = change_headline(report, previous_signature)
    lines, body = _body(report)
    return "\n".join([headline, *lines]), [_section(headline), *body]
