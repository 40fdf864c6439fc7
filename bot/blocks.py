"""Block Kit for a run's Slack message (pure): one message per run, edited as its steps progress.

The relay maps timeline rows to these small views, so rendering is tested without Slack or a database,
and the text fallback (notifications, screen readers) always says the same as the blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STEP_ICONS = {
    "pending": ":white_circle:",
    "started": ":hourglass_flowing_sand:",
    "succeeded": ":white_check_mark:",
    "failed": ":x:",
    "skipped": ":heavy_minus_sign:",
    "waiting_approval": ":raised_hand:",
}
RUN_ICONS = {
    "pending": ":clock3:",
    "running": ":arrows_counterclockwise:",
    "waiting_approval": ":raised_hand:",
    "succeeded": ":white_check_mark:",
    "failed": ":x:",
    "cancelled": ":no_entry_sign:",
}
FINISHED = frozenset({"succeeded", "failed", "cancelled"})
CANCEL_ACTION = "etcdops_cancel_run"


@dataclass(frozen=True)
class StepView:
    seq: int
    title: str
    status: str
    attempt: int = 1
    note: str = ""


@dataclass(frozen=True)
class RunView:
    run_id: str
    procedure: str
    cluster: str
    requested_by: str
    status: str
    steps: tuple[StepView, ...] = ()
    error: str = ""
    result: str = ""


def _step_line(step: StepView) -> str:
    retry = f" (attempt {step.attempt})" if step.attempt > 1 else ""
    note = f" — {step.note}" if step.note else ""
    return f"{STEP_ICONS.get(step.status, ':grey_question:')} {step.seq}. {step.title}{retry}{note}"


def render_run(run: RunView) -> tuple[str, list[dict[str, Any]]]:
    icon = RUN_ICONS.get(run.status, ":grey_question:")
    headline = (
        f"{icon} `{run.procedure}` on *{run.cluster}* — {run.status.replace('_', ' ')} "
        f"(run `{run.run_id}`, requested by <@{run.requested_by}>)"
    )
    lines = [_step_line(s) for s in run.steps]
    tail = [f":warning: {run.error}"] if run.error else []
    tail += [run.result] if run.result else []
    text = "\n".join([headline, *lines, *tail])
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": headline}}]
    if lines:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
    if tail:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(tail)}})
    if run.status not in FINISHED:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"run:{run.run_id}",
                "elements": [
                    {
                        "type": "button",
                        "action_id": CANCEL_ACTION,
                        "text": {"type": "plain_text", "text": "Cancel"},
                        "style": "danger",
                        "value": run.run_id,
                        "confirm": {
                            "title": {"type": "plain_text", "text": "Cancel this run?"},
                            "text": {
                                "type": "mrkdwn",
                                "text": f"Run `{run.run_id}` stops after its current step.",
                            },
                            "confirm": {"type": "plain_text", "text": "Cancel the run"},
                            "deny": {"type": "plain_text", "text": "Keep it running"},
                        },
                    }
                ],
            }
        )
    return text, blocks
