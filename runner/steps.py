"""What the engine needs to know about a step beyond running it: its probe's verdict after a crash.

A step that was started but not recorded as finished is never blindly re-run: its probe looks at the
live state and says whether the work is already done, can safely be redone, or needs a human.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Probe(StrEnum):
    DONE = "done"
    REDO = "redo"
    ASK = "ask"


@dataclass(frozen=True)
class ProbeResult:
    verdict: Probe
    reason: str


class StepFailed(Exception):
    """A step failed for a reason a person must read; ``retryable`` says if trying again may help."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
