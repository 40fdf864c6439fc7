"""``etcdops demo`` — the README's main job — as a newcomer runs it: lab, local Slack and bot start,
alice's /etcd status and /etcd backup are answered, the channel is printed, and nothing is left behind."""

from __future__ import annotations

import os

from tests.lab.conftest import _lab_root
from tests.lab.helpers import etcdops, lab_leftovers


def test_demo_runs_the_script_prints_the_channel_and_cleans_up() -> None:
    root = _lab_root("demo")
    done = etcdops("demo", "--no-wait", "--dir", str(root), check=False, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "bot: :large_green_circle: *lab*: 3 members are available" in output
    assert "bot: :white_check_mark: `backup` on *lab* — succeeded" in output
    assert "snapshot db and kube resources are successfully saved" in output
    assert "Backups of *lab*, newest first:" in output and ":white_check_mark: verified" in output
    assert 'uv run etcdops slack "/etcd status"' in output
    assert '"level"' not in output, "etcdctl's debug log stays out of the channel"
    assert os.environ.get("SLACK_BOT_TOKEN", "xoxb-lab-0000-bot") not in output
    left = lab_leftovers(root)
    assert not any(left.values()), f"the demo left things behind: {left}"
