"""``/etcd replace`` against the lab through the local Slack, as real users — seed 2.4.2 after
``lab fault crashloop``: a dry run shows the plan and does nothing; healthy and unknown members are
refused; the real run stops at each destructive step until bob and carol approve (alice and mallory are
told why they cannot), and ends with three healthy members."""

from __future__ import annotations

import json

from bot.blocks import APPROVE_ACTION
from lab.slack import Message, SlackDriver
from tests.lab.botkit import CHANNEL, finished_run_message, run_id_of
from tests.lab.helpers import Lab, etcdops, node_ip, wait_for

VICTIM = "ip-127-0-0-12.ec2.internal"


def _replace(bot: SlackDriver, text: str, user: str = "alice") -> str:
    result = bot.slash(user, CHANNEL, "/etcd", text)
    assert result.acked, result
    return run_id_of(result)


def _approval(bot: SlackDriver, run_id: str, action: str) -> Message:
    def pending(messages: list[Message]) -> Message | None:
        return next(
            (m for m in messages if f"run `{run_id}`" in m.text and f"Approval needed: *{action}*" in m.text),
            None,
        )

    found: Message = bot.wait_for(CHANNEL, pending, timeout=60, interval=0.2)
    return found


def _click(bot: SlackDriver, message: Message, user: str) -> str:
    value = str(message.blocks[-1]["elements"][0]["value"])  # type: ignore[index]
    clicked = bot.click(user, message.ts, APPROVE_ACTION, value, channel=CHANNEL, settle=0.5)
    return " ".join(m.text for m in clicked.ephemeral)


def test_replace_a_crashlooping_member_with_two_approvals(lab: Lab, bot: SlackDriver) -> None:
    backup = finished_run_message(bot, _backup(bot))
    assert "succeeded" in backup.text.split("\n")[0]
    etcdops("lab", "fault", "crashloop", VICTIM)
    wait_for(
        "the member to be unhealthy",
        lambda: "2 of 3" in lab.condition("etcd", "EtcdMembersAvailable"),
        timeout=60,
    )
    wait_for(
        "the pod to crash-loop",
        lambda: any(VICTIM in r[0] and r[2] in ("Error", "CrashLoopBackOff") for r in lab.etcd_pods()),
        90,
        1,
    )
    ip = node_ip(VICTIM)

    dry = finished_run_message(bot, _replace(bot, f"replace {VICTIM} --dry-run"))
    assert "succeeded" in dry.text.split("\n")[0] and "nothing was done" in dry.text, dry.text
    plan = " ".join(m.text for m in bot.thread(CHANNEL, dry.ts))
    assert "sudo mv /etc/kubernetes/manifests/etcd-pod.yaml /var/lib/etcd-backup/" in plan
    assert "etcdctl member remove" in plan and f"etcd-serving-metrics-{VICTIM}" in plan
    assert "single-master-recovery-" in plan
    assert (
        lab.ssh(ip, "sudo test -e /etc/kubernetes/manifests/etcd-pod.yaml && echo still").strip() == "still"
    )

    for wrong, words in (
        ("ip-127-0-0-11.ec2.internal", "is healthy"),
        ("ip-127-0-0-99.ec2.internal", "is not an etcd member"),
    ):
        refused = finished_run_message(bot, _replace(bot, f"replace {wrong}"))
        assert "failed" in refused.text.split("\n")[0] and words in refused.text, refused.text

    pod = lab.healthy_pod(avoid_node=VICTIM)
    old_id = next(
        line.split("|")[1].strip()
        for line in lab.etcdctl(pod, "member", "list", "-w", "table").splitlines()
        if VICTIM in line
    )
    run_id = _replace(bot, f"replace {VICTIM}")
    removal = _approval(bot, run_id, "member removal")
    assert f"etcdctl member remove {old_id}" in removal.text
    assert "You requested this run" in _click(bot, removal, "alice")
    assert "Only @etcd-approvers" in _click(bot, removal, "mallory")
    assert old_id in lab.etcdctl(pod, "member", "list", "-w", "table"), "nothing removed before approval"
    assert _click(bot, removal, "bob") == "" and _click(bot, removal, "carol") == ""

    secrets = _approval(bot, run_id, "secret deletion")
    assert f"oc delete secret -n openshift-etcd etcd-peer-{VICTIM}" in secrets.text
    assert old_id not in lab.etcdctl(pod, "member", "list", "-w", "table")
    assert _click(bot, secrets, "carol") == "" and _click(bot, secrets, "bob") == ""

    done = finished_run_message(bot, run_id, timeout=400)
    assert "succeeded" in done.text.split("\n")[0], done.text
    lab.wait_three_healthy(timeout=120)
    health = lab.etcdctl(lab.healthy_pod(), "endpoint", "health", "--cluster")
    assert f"https://{ip}:2379 is healthy" in health
    new_id = next(
        line.split("|")[1].strip()
        for line in lab.etcdctl(pod, "member", "list", "-w", "table").splitlines()
        if VICTIM in line
    )
    assert new_id != old_id, "the member was replaced, not restarted"


def _backup(bot: SlackDriver) -> str:
    return run_id_of(bot.slash("alice", CHANNEL, "/etcd", "backup"))


def test_replace_a_member_whose_machine_is_not_running(lab: Lab, bot: SlackDriver) -> None:
    down = "ip-127-0-0-11.ec2.internal"
    assert "succeeded" in finished_run_message(bot, _backup(bot)).text.split("\n")[0]
    etcdops("lab", "fault", "stop-machine", down)
    wait_for(
        "the member to be unhealthy",
        lambda: "2 of 3" in lab.condition("etcd", "EtcdMembersAvailable"),
        timeout=60,
    )
    run_id = _replace(bot, f"replace {down}")
    removal = _approval(bot, run_id, "member removal")
    assert _click(bot, removal, "bob") == "" and _click(bot, removal, "carol") == ""
    secrets = _approval(bot, run_id, "secret deletion")
    assert _click(bot, secrets, "bob") == "" and _click(bot, secrets, "carol") == ""
    machine = _approval(bot, run_id, "machine deletion")
    assert "oc delete machine -n openshift-machine-api lab-8qw5l-master-0" in machine.text
    assert "lab-8qw5l-master-0" in lab.kubectl("get", "machines", "-n", "openshift-machine-api")
    assert _click(bot, machine, "carol") == "" and _click(bot, machine, "bob") == ""

    done = finished_run_message(bot, run_id, timeout=500)
    assert "succeeded" in done.text.split("\n")[0], done.text
    machines = lab.kubectl("get", "machines", "-n", "openshift-machine-api", "-o", "wide")
    assert "lab-8qw5l-master-3" in machines and "lab-8qw5l-master-0" not in machines
    lab.wait_three_healthy(timeout=120)
    health = lab.etcdctl(lab.healthy_pod(), "endpoint", "health", "--cluster")
    assert "https://127.0.0.14:2379 is healthy" in health and "127.0.0.11" not in health


def test_a_machine_recreated_before_execution_voids_the_approvals(
    lab: Lab, bot: SlackDriver, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    down = "ip-127-0-0-11.ec2.internal"
    assert "succeeded" in finished_run_message(bot, _backup(bot)).text.split("\n")[0]
    etcdops("lab", "fault", "stop-machine", down)
    wait_for(
        "the member to be unhealthy", lambda: "2 of 3" in lab.condition("etcd", "EtcdMembersAvailable"), 60
    )
    run_id = _replace(bot, f"replace {down}")
    for action in ("member removal", "secret deletion"):
        request = _approval(bot, run_id, action)
        assert _click(bot, request, "bob") == "" and _click(bot, request, "carol") == ""
    first = _approval(bot, run_id, "machine deletion")
    old_uid = lab.kubectl(
        "get",
        "machine",
        "lab-8qw5l-master-0",
        "-n",
        "openshift-machine-api",
        "-o",
        "jsonpath={.metadata.uid}",
    )
    assert f"uid {old_uid}" in first.text
    assert _click(bot, first, "bob") == ""

    # Someone recreates the machine meanwhile: same name, a new object.
    saved = json.loads(
        lab.kubectl("get", "machine", "lab-8qw5l-master-0", "-n", "openshift-machine-api", "-o", "json")
    )
    for volatile in ("uid", "resourceVersion", "creationTimestamp", "generation"):
        saved["metadata"].pop(volatile, None)
    saved.pop("status", None)
    again = tmp_path / "machine.json"
    again.write_text(json.dumps(saved))
    lab.kubectl("delete", "machine", "lab-8qw5l-master-0", "-n", "openshift-machine-api", timeout=60)
    lab.kubectl("create", "-f", str(again))
    new_uid = lab.kubectl(
        "get",
        "machine",
        "lab-8qw5l-master-0",
        "-n",
        "openshift-machine-api",
        "-o",
        "jsonpath={.metadata.uid}",
    )
    assert new_uid and new_uid != old_uid

    assert _click(bot, first, "carol") == ""  # the second approval, of the plan as it was
    voided = bot.wait_for(
        CHANNEL,
        lambda ms: next((m for m in ms if m.ts == first.ts and ":recycle: Void" in m.text), None),
        timeout=30,
    )
    assert "the plan of step" in voided.text
    renewed = bot.wait_for(
        CHANNEL,
        lambda ms: next(
            (
                m
                for m in ms
                if m.ts != first.ts
                and f"run `{run_id}`" in m.text
                and "Approval needed: *machine deletion*" in m.text
            ),
            None,
        ),
        timeout=30,
    )
    assert f"uid {new_uid}" in renewed.text and "0 of 2 approvals" in renewed.text

    # The recreated machine brings up a new host, and its rollout may restart the API for a moment.
    def machines() -> str | None:
        out = lab.kubectl("get", "machines", "-n", "openshift-machine-api", check=False)
        return out if out.startswith("NAME") else None

    listed = wait_for("the machines to be listed", machines, 60)
    assert "lab-8qw5l-master-0" in listed, "nothing deleted"
    cancelled = bot.slash("alice", CHANNEL, "/etcd", f"cancel {run_id}")
    assert f"cancelled run `{run_id}`" in cancelled.in_channel[0].text
