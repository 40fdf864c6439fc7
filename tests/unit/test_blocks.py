"""A run's Slack message: steps with their state, a cancel button only while it can be cancelled."""

from __future__ import annotations

from bot.blocks import CANCEL_ACTION, RunView, StepView, render_run


def _run(status: str, **kwargs: object) -> RunView:
    steps = (
        StepView(1, "Preflight", "succeeded"),
        StepView(2, "cluster-backup.sh on ip-127-0-0-12.ec2.internal", "started", attempt=2),
        StepView(3, "Copy both files off the host", "pending"),
    )
    return RunView("r-7k2p9", "backup", "lab", "U0ALICE", status, steps, **kwargs)  # type: ignore[arg-type]


def test_a_running_run_shows_its_steps_and_can_be_cancelled() -> None:
    text, blocks = render_run(_run("running"))
    assert "`backup` on *lab* — running (run `r-7k2p9`, requested by <@U0ALICE>)" in text
    assert ":white_check_mark: 1. Preflight" in text
    assert ":hourglass_flowing_sand: 2. cluster-backup.sh on ip-127-0-0-12.ec2.internal (attempt 2)" in text
    actions = [b for b in blocks if b["type"] == "actions"]
    assert actions and actions[0]["elements"][0]["action_id"] == CANCEL_ACTION
    assert actions[0]["elements"][0]["value"] == "r-7k2p9"


def test_a_finished_run_has_no_button_and_says_why_it_failed() -> None:
    text, blocks = render_run(_run("failed", error="ip-127-0-0-12: cluster-backup.sh failed (exit 1)"))
    assert ":x: `backup`" in text and ":warning: ip-127-0-0-12: cluster-backup.sh failed" in text
    assert not [b for b in blocks if b["type"] == "actions"]
    done_text, _ = render_run(_run("succeeded", result="backup `b-1` verified"))
    assert done_text.endswith("backup `b-1` verified")
