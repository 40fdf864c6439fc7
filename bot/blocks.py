"""Block Kit for a run's Slack message (pure): one message per run, edited as its steps progress.

The relay maps timeline rows to these small views, so rendering is tested without Slack or a database,
and the text fallback (notifications, screen readers) always says the same as the blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.submit import requester

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
        f"(run `{run.run_id}`, requested by {requester(run.requested_by)})"
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


APPROVE_ACTION = "etcdops_approve"
REJECT_ACTION = "etcdops_reject"


@dataclass(frozen=True)
class ApprovalView:
    approval_id: int
    run_id: str
    cluster: str
    seq: int
    step_title: str
    action: str
    requested_by: str
    required: int
    approvers: tuple[str, ...]
    who_may: str  # "@etcd-approvers", or a list of users
    expires_at: str  # "14:05 UTC"
    status: str  # pending / approved / rejected / expired / voided
    plan: dict[str, Any]
    rejected_by: str | None = None
    note: str = ""


APPROVAL_HEADLINES = {
    "pending": ":raised_hand: Approval needed",
    "approved": ":white_check_mark: Approved",
    "rejected": ":no_entry: Rejected",
    "expired": ":hourglass: Expired",
    "voided": ":recycle: Void (the plan changed)",
}


def _plan_lines(plan: dict[str, Any]) -> str:
    lines: list[str] = []
    for key, value in plan.items():
        if isinstance(value, list) and key == "commands":
            lines.extend(str(item) for item in value)
        elif isinstance(value, list):  # e.g. the CSRs never approved: the heading says what they are
            lines.append(f"{key}:")
            lines.extend(f"  {item}" for item in value)
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines)


def render_approval(view: ApprovalView) -> tuple[str, list[dict[str, Any]]]:
    """The approval message: exactly what will run, who must agree, and the buttons while it is open."""
    headline = (
        f"{APPROVAL_HEADLINES.get(view.status, view.status)}: *{view.action.replace('_', ' ')}* — "
        f"step {view.seq} ({view.step_title}) of run `{view.run_id}` on *{view.cluster}*, "
        f"requested by {requester(view.requested_by)}"
    )
    votes = ", ".join(f"<@{user}>" for user in view.approvers) or "nobody yet"
    tally = f"{len(view.approvers)} of {view.required} approvals from {view.who_may}: {votes}"
    if view.rejected_by:
        tally += f"; rejected by <@{view.rejected_by}>"
    footer = f"{tally} · expires {view.expires_at}" + (f" · {view.note}" if view.note else "")
    plan = _plan_lines(view.plan)
    text = "\n".join([headline, f"This will run:\n```{plan}```", footer])
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*This will run:*\n```{plan}```"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]},
    ]
    if view.status == "pending":
        blocks.append(
            {
                "type": "actions",
                "block_id": f"approval:{view.approval_id}",
                "elements": [
                    {
                        "type": "button",
                        "action_id": APPROVE_ACTION,
                        "text": {"type": "plain_text", "text": "Approve"},
                        "style": "primary",
                        "value": str(view.approval_id),
                    },
                    {
                        "type": "button",
                        "action_id": REJECT_ACTION,
                        "text": {"type": "plain_text", "text": "Reject"},
                        "style": "danger",
                        "value": str(view.approval_id),
                    },
                ],
            }
        )
    return text, blocks
