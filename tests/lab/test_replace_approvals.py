"""Who may let a replacement run, on the real seed 2.4.1 in the lab, through the local Slack as real
users. The lab's policy (two of @etcd-approvers) with member removal requests that expire after 20 s:

- no replacement without a recent backup: alice is told to take one, and nothing is recorded;
- alice's own approval, mallory's and bob's second click change nothing, and each is told why; carol's
  rejection then ends the run with nothing removed (the member, its secrets and its machine are there);
- a request left to expire ends its run with nothing removed, and bob's click after the expiry is told so.

The approval rules themselves are also tested on a rehearsal procedure (tests/bot/test_approvals.py);
this is the same on the procedure that would remove a member for real."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from bot.blocks import APPROVE_ACTION, REJECT_ACTION
from bot.settings import Settings
from lab.slack import LocalSlackThread, Message, SlackConfig, SlackDriver
from storage.models import Run
from tests.lab.botkit import CHANNEL, finished_run_message, lab_settings, run_id_of, session_of
from tests.lab.helpers import Lab, etcdops, wait_for

DOWN = "ip-127-0-0-11.ec2.internal"
MACHINE = "lab-8qw5l-master-0"
REMOVAL_EXPIRY_S = 20


@pytest.fixture
def settings(lab: Lab, slack: tuple[LocalSlackThread, SlackConfig], tmp_path: Path) -> Settings:
    """The lab's own settings, with a clusters file whose member removal requests expire after 20 s."""
    base = lab_settings(lab, slack[0], slack[1], tmp_path)
    profile = yaml.safe_load((lab.root / "cluster.yaml").read_text())
    profile["clusters"][0]["approvals"]["member_removal"]["expiry"] = f"{REMOVAL_EXPIRY_S}s"
    clusters = tmp_path / "clusters.yaml"
    clusters.write_text(yaml.safe_dump(profile))
    return base.model_copy(update={"etcdops_clusters": clusters})


def _removal_request(bot: SlackDriver, run_id: str) -> Message:
    def pending(messages: list[Message]) -> Message | None:
        return next(
            (
                m
                for m in messages
                if f"run `{run_id}`" in m.text and "Approval needed: *member removal*" in m.text
            ),
            None,
        )

    found: Message = bot.wait_for(CHANNEL, pending, timeout=120, interval=0.2)
    return found


def _updated(bot: SlackDriver, request: Message, words: str, timeout: float) -> Message:
    found: Message = bot.wait_for(
        CHANNEL,
        lambda ms: next((m for m in ms if m.ts == request.ts and words in m.text), None),
        timeout=timeout,
        interval=0.2,
    )
    return found


def _buttons(request: Message) -> tuple[str, str]:
    """The values of the Approve and Reject buttons, kept to click them as a stale client would."""
    elements = request.blocks[-1]["elements"]  # type: ignore[index]
    return str(elements[0]["value"]), str(elements[1]["value"])


def _click(
    bot: SlackDriver, request: Message, user: str, action: str, value: str, stale: bool = False
) -> str:
    """What ``user`` is told when clicking; ``stale``: on buttons the bot's last edit removed."""
    clicked = bot.click(user, request.ts, action, value, channel=CHANNEL, settle=0.5, stale=stale)
    assert clicked.acked, clicked
    return " ".join(m.text for m in clicked.ephemeral)


def _nothing_removed(lab: Lab, member_id: str) -> None:
    pod = lab.healthy_pod(avoid_node=DOWN)
    assert member_id in lab.etcdctl(pod, "member", "list", "-w", "table"), "the member is still listed"
    secrets = lab.kubectl("get", "secrets", "-n", "openshift-etcd", "-o", "name")
    for kind in ("etcd-peer", "etcd-serving", "etcd-serving-metrics"):
        assert f"secret/{kind}-{DOWN}" in secrets
    assert MACHINE in lab.kubectl("get", "machines", "-n", "openshift-machine-api")


def _member_id(lab: Lab) -> str:
    table = lab.etcdctl(lab.healthy_pod(avoid_node=DOWN), "member", "list", "-w", "table")
    return next(line.split("|")[1].strip() for line in table.splitlines() if DOWN in line)


def test_only_two_other_approvers_let_a_replacement_run(
    lab: Lab, bot: SlackDriver, settings: Settings
) -> None:
    etcdops("lab", "fault", "stop-machine", DOWN)
    wait_for(
        "the member to be unhealthy", lambda: "2 of 3" in lab.condition("etcd", "EtcdMembersAvailable"), 60
    )
    member_id = _member_id(lab)

    no_backup = bot.slash("alice", CHANNEL, "/etcd", f"replace {DOWN}")
    assert no_backup.acked and not no_backup.in_channel, no_backup
    told = " ".join(m.text for m in no_backup.ephemeral)
    assert "asks for a backup before a member is replaced: there is none" in told, told
    assert "/etcd backup lab" in told
    with session_of(settings) as session:
        assert session.exec(select(Run)).all() == [], "a refused replacement records nothing"

    backup = finished_run_message(bot, run_id_of(bot.slash("alice", CHANNEL, "/etcd", "backup")))
    assert "succeeded" in backup.text.split("\n")[0], backup.text

    # Rejected: alice, mallory and bob's second click change nothing; carol's rejection ends it.
    rejected_run = run_id_of(bot.slash("alice", CHANNEL, "/etcd", f"replace {DOWN}"))
    request = _removal_request(bot, rejected_run)
    assert f"etcdctl member remove {member_id}" in request.text
    approve, reject = _buttons(request)
    assert "You requested this run" in _click(bot, request, "alice", APPROVE_ACTION, approve)
    assert "Only @etcd-approvers" in _click(bot, request, "mallory", APPROVE_ACTION, approve)
    assert _click(bot, request, "bob", APPROVE_ACTION, approve) == ""
    assert "already voted" in _click(bot, request, "bob", APPROVE_ACTION, approve)
    _updated(bot, request, "1 of 2 approvals from @etcd-approvers: <@U0BOB>", timeout=10)
    assert _click(bot, request, "carol", REJECT_ACTION, reject) == ""
    _updated(bot, request, ":no_entry: Rejected", timeout=10)
    ended = finished_run_message(bot, rejected_run, timeout=60)
    assert "failed" in ended.text.split("\n")[0] and "rejected by <@U0CAROL>" in ended.text, ended.text
    _nothing_removed(lab, member_id)
    assert "This run has already finished" in _click(bot, request, "bob", APPROVE_ACTION, approve, stale=True)

    # Expired: nobody decides in time; a click after the expiry is told so, and nothing runs.
    expired_run = run_id_of(bot.slash("alice", CHANNEL, "/etcd", f"replace {DOWN}"))
    request = _removal_request(bot, expired_run)
    approve, _ = _buttons(request)
    assert _click(bot, request, "carol", APPROVE_ACTION, approve) == ""
    expired = _updated(bot, request, ":hourglass: Expired", timeout=REMOVAL_EXPIRY_S + 30)
    assert "1 of 2 approvals from @etcd-approvers: <@U0CAROL>" in expired.text
    assert "has expired" in _click(bot, request, "bob", APPROVE_ACTION, approve, stale=True)
    ended = finished_run_message(bot, expired_run, timeout=60)
    assert "failed" in ended.text.split("\n")[0] and "expired" in ended.text, ended.text
    _nothing_removed(lab, member_id)
    assert not any("Approval needed: *secret deletion*" in m.text for m in bot.transcript(CHANNEL)), (
        "no run got past the member removal"
    )
