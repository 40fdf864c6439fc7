"""What the engine needs to know about a step beyond running it: its probe's verdict after a crash.

A step that was started but not recorded as finished is never blindly re-run: its probe looks at the
live state and says whether the work is already done, can safely be redone, or needs a human.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Probe(StrEnum):
    DONE = "done"
    REDO = "redo"
    ASK = "ask"


@dataclass(frozen=True)
class ProbeResult:
    """A probe's verdict; with DONE, ``result`` is what the step would have returned (for later steps)."""

    verdict: Probe
    reason: str
    result: dict[str, Any] | None = None


class StepFailed(Exception):
    """A step failed for a reason a person must read; ``retryable`` says if trying again may help."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class StepContext:
    """What a step sees: its run, and the results of the steps before it (replayed from the journal)."""

    run_id: str
    cluster: str
    params: dict[str, Any]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class StepSpec:
    """One step of a procedure: what it does (``execute`` returns a JSON-able result, journaled) and how
    to tell, after a crash, whether it already happened (``probe``; None means redoing it is harmless)."""

    id: str
    title: str
    execute: Callable[[StepContext], dict[str, Any]]
    probe: Callable[[StepContext], ProbeResult] | None = None
    destructive: bool = False
    attempts: int = 3
    approval: str | None = None  # the approval policy's action; None: runs without asking
    describe: Callable[[StepContext], dict[str, Any]] | None = None  # what exactly will run (approved)


class Procedure(Protocol):
    """A named list of steps. An *adaptive* procedure is planned again after each step, from the results
    so far, and may then add steps (never change those already planned)."""

    name: str
    destructive: bool
    adaptive: bool

    def steps(self, context: StepContext) -> list[StepSpec]: ...

    def summary(self, context: StepContext) -> str: ...
