"""Cron text as crontab means it: UTC, Sunday as 0 or 7, shortcuts, and clear errors."""

from __future__ import annotations

import datetime as dt

import pytest

from runner.cron import CronError, next_firings, parse_cron

MONDAY = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)  # 2026-11-30 is a Monday


def test_daily_at_three_utc() -> None:
    times = next_firings(parse_cron("0 3 * * *"), MONDAY)
    assert times == [dt.datetime(2026, 12, d, 3, 0, tzinfo=dt.UTC) for d in (1, 2, 3)]


@pytest.mark.parametrize("sunday", ["0", "7", "sun", "SUN"])
def test_sunday_is_sunday_whichever_way_it_is_written(sunday: str) -> None:
    first = next_firings(parse_cron(f"30 1 * * {sunday}"), MONDAY, 1)[0]
    assert first == dt.datetime(2026, 12, 6, 1, 30, tzinfo=dt.UTC) and first.strftime("%a") == "Sun"


def test_numeric_ranges_of_days_follow_crontab() -> None:
    times = next_firings(parse_cron("0 0 * * 1-5"), MONDAY, 5)
    assert [t.strftime("%a") for t in times] == ["Tue", "Wed", "Thu", "Fri", "Mon"]


def test_shortcuts() -> None:
    assert next_firings(parse_cron("@hourly"), MONDAY, 1)[0] == MONDAY + dt.timedelta(hours=1)
    assert next_firings(parse_cron("@weekly"), MONDAY, 1)[0].strftime("%a %H:%M") == "Sun 00:00"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("0 3 * *", "has 4 fields"),
        ("every day", "has 2 fields"),
        ("61 3 * * *", "is not a valid schedule"),
        ("0 3 * * 8", "day of the week 8 does not exist"),
        ("0 25 * * *", "is not a valid schedule"),
    ],
)
def test_bad_text_is_explained_with_an_example(text: str, words: str) -> None:
    with pytest.raises(CronError, match=words) as raised:
        parse_cron(text)
    assert "0 3 * * *" in str(raised.value) or "Sunday" in str(raised.value)
