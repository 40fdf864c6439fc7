"""Cron text → an APScheduler trigger in UTC, with the mistakes people make explained (pure).

APScheduler 3 numbers days of the week from Monday (``0`` is Monday), while crontab numbers them from
Sunday (``0`` and ``7`` are Sunday): ``0 3 * * 0`` would quietly fire on Mondays. Numeric days are
therefore rewritten to names first, so the text means what it means in crontab. Schedules are in UTC,
whatever the machine's zone, and say so.
"""

from __future__ import annotations

import datetime as dt
import re

from apscheduler.triggers.cron import CronTrigger

SHORTCUTS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * sun",
    "@monthly": "0 0 1 * *",
}
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
EXAMPLE = "`0 3 * * *` (03:00 UTC every day) or `30 1 * * sun` (01:30 UTC on Sundays)"


class CronError(ValueError):
    """The text is not a crontab schedule; the message says why, with an example."""


def _crontab_days(field: str) -> str:
    """Rewrite crontab's numeric days of the week (0–7, Sunday = 0 or 7) as names."""

    def name(match: re.Match[str]) -> str:
        number = int(match.group(0))
        if number > 7:
            raise CronError(f"day of the week {number} does not exist (0–7, Sunday is 0 or 7)")
        return DAY_NAMES[number]

    return re.sub(r"\d+", name, field)


def parse_cron(text: str) -> CronTrigger:
    """The trigger for five-field crontab text (or ``@daily`` and its kin), in UTC."""
    expanded = SHORTCUTS.get(text.strip().lower(), text.strip())
    fields = expanded.split()
    if len(fields) != 5:
        raise CronError(
            f"`{text}` has {len(fields)} fields; a schedule has five (minute hour day month weekday), "
            f"in quotes: {EXAMPLE}"
        )
    fields[4] = _crontab_days(fields[4])
    try:
        return CronTrigger.from_crontab(" ".join(fields), timezone=dt.UTC)
    except ValueError as exc:
        raise CronError(f"`{text}` is not a valid schedule: {exc}. For example {EXAMPLE}") from None


def next_firings(trigger: CronTrigger, after: dt.datetime, count: int = 3) -> list[dt.datetime]:
    """The next ``count`` times the trigger fires after ``after`` (shown when a schedule is made)."""
    found: list[dt.datetime] = []
    previous: dt.datetime | None = None
    now = after + dt.timedelta(microseconds=1)  # strictly after: the trigger's own search is inclusive
    while len(found) < count:
        upcoming = trigger.get_next_fire_time(previous, now)
        if upcoming is None:
            break
        found.append(upcoming)
        previous, now = upcoming, upcoming + dt.timedelta(microseconds=1)
    return found
