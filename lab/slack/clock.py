"""Slack-shaped message timestamps: ``"1700000000.000100"``, unique and strictly increasing.

Slack uses ``ts`` as a message id, so two messages must never share one even when posted within the
same microsecond; the clock therefore bumps by one microsecond when time has not moved on.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TsClock:
    """Hands out unique, increasing Slack ``ts`` strings from a (replaceable) wall clock."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._last_us = 0

    def next(self) -> str:
        now_us = int(self._now() * 1_000_000)
        self._last_us = max(now_us, self._last_us + 1)
        return format_ts(self._last_us)


def format_ts(micros: int) -> str:
    """Render microseconds since the epoch the way Slack renders ``ts``."""
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"
