"""Approvals through the local Slack, as real users, on the whole bot process: a destructive step of a
rehearsal procedure waits for two of @etcd-approvers (bob, carol). alice (the requester), mallory (not in
the group), bob's second click, a click after expiry and a click on a decided request change nothing
and are told why; carol's rejection ends a run with nothing done."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.blocks import APPROVE_ACTION, REJECT_ACTION
from bot.process import EtcdopsProcess
from bot.settings import Settings
from lab.slack import CommandResult, LocalSlackThread, Message, SlackConfig, SlackDriver
from runner.steps import StepContext, StepSpec
from storage import runs
from storage.db import make_engine, make_session_factory
from storage.models import RunStatus
from tests.bot.conftest import CHANNEL

DONE: list[str] = []


class RehearsedRemoval:
    """One destructive step that only records that it ran; what it would run is its plan."""

    name = "rehearsal"
    destructive = True
    adaptive = False

    def steps(self, context: StepContext) -> list[StepSpec]:
        def remove(ctx: StepContext) -> dict[str, Any]:
            DONE.append(ctx.run_id)
            return {}

        def describe(ctx: StepContext) -> dict[str, Any]:
            return {"commands": ["etcdctl member remove 8e4a1f2d3c4b5a69"]}

        return [StepSpec("remove", "Remove the member", remove, approval="member_removal", describe=describe)]

    def summary(self, context: StepContext) -> str:
        return "member removed"


@pytest.fixture(scope="module")
def approvals_bot(
    local_slack: tuple[LocalSlackThread, SlackConfig], settings: Settings
) -> Iterator[tuple[SlackDriver, Settings]]:
    with EtcdopsProcess(settings, extra_procedures={"rehearsal": RehearsedRemoval()}):
        yield SlackDriver(local_slack[0].url), settings


def _request_run(settings: Settings, cluster: str = "lab") -> str:
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            run = runs.create_run(
                session=session,
                procedure="rehearsal",
                cluster=cluster,
                requested_by="U0ALICE",
                channel="C0ETCDLAB" if cluster == "lab" else "C0RANDOM",
                destructive=True,
            )
            return run.id
    finally:
        engine.dispose()


def _status(settings: Settings, run_id: str) -> str:
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            return runs.get_run(run_id, session=session).status
    finally:
        engine.dispose()


def _approval_message(
    driver: SlackDriver, run_id: str, channel: str = CHANNEL, contains: str = ""
) -> Message:
    def find(messages: list[Message]) -> Message | None:
        for message in messages:
            about = "*member removal* — step 1" in message.text and f"run `{run_id}`" in message.text
            if about and contains in message.text:
                return message
        return None

    found: Message = driver.wait_for(channel, find, timeout=10)
    return found


def _reason(result: CommandResult) -> str:
    return " ".join(m.text for m in result.ephemeral)


def test_two_approvers_let_it_run_and_everyone_else_is_told_why_not(
    approvals_bot: tuple[SlackDriver, Settings],
) -> None:
    driver, settings = approvals_bot
    run_id = _request_run(settings)
    message = _approval_message(driver, run_id)
    assert message.text.startswith(":raised_hand: Approval needed: *member removal*")
    assert "etcdctl member remove 8e4a1f2d3c4b5a69" in message.text
    assert "0 of 2 approvals from @etcd-approvers" in message.text
    value = str(message.blocks[-1]["elements"][0]["value"])  # type: ignore[index]

    def click(user: str, action: str = APPROVE_ACTION) -> str:
        return _reason(driver.click(user, message.ts, action, value, channel=CHANNEL, settle=0.5))

    assert "You requested this run" in click("alice")
    assert "Only @etcd-approvers may approve or reject this" in click("mallory")
    assert "Only @etcd-approvers" in click("mallory", REJECT_ACTION)
    assert click("bob") == ""
    assert "already voted" in click("bob")
    assert _approval_message(driver, run_id, contains="1 of 2 approvals from @etcd-approvers: <@U0BOB>")
    assert run_id not in DONE and _status(settings, run_id) == RunStatus.WAITING_APPROVAL
    assert click("carol") == ""
    approved = _approval_message(driver, run_id, contains=":white_check_mark: Approved")
    assert "<@U0BOB>, <@U0CAROL>" in approved.text
    assert all(b["type"] != "actions" for b in approved.blocks or []), "a decided request has no buttons"
    driver.wait_for(CHANNEL, lambda _: _status(settings, run_id) == RunStatus.SUCCEEDED, timeout=10)
    assert DONE.count(run_id) == 1


def test_one_rejection_ends_the_run_with_nothing_done(approvals_bot: tuple[SlackDriver, Settings]) -> None:
    driver, settings = approvals_bot
    run_id = _request_run(settings)
    message = _approval_message(driver, run_id)
    value = str(message.blocks[-1]["elements"][1]["value"])  # type: ignore[index]
    assert driver.click("bob", message.ts, APPROVE_ACTION, value, channel=CHANNEL).acked
    assert driver.click("carol", message.ts, REJECT_ACTION, value, channel=CHANNEL).acked
    _approval_message(driver, run_id, contains=":no_entry: Rejected")
    driver.wait_for(CHANNEL, lambda _: _status(settings, run_id) == RunStatus.FAILED, timeout=10)
    assert run_id not in DONE


def test_an_expired_request_closes_with_nothing_done(approvals_bot: tuple[SlackDriver, Settings]) -> None:
    driver, settings = approvals_bot
    run_id = _request_run(settings, "prod-east")  # its policy expires requests after 3 s
    message = _approval_message(driver, run_id, channel="#random")
    value = str(message.blocks[-1]["elements"][0]["value"])  # type: ignore[index]
    assert (
        _reason(driver.click("bob", message.ts, APPROVE_ACTION, value, channel="#random", settle=0.3)) == ""
    )
    expired = _approval_message(driver, run_id, channel="#random", contains=":hourglass: Expired")
    assert "1 of 2 approvals from @etcd-approvers: <@U0BOB>" in expired.text
    assert all(b["type"] != "actions" for b in expired.blocks or []), "nothing left to click"
    driver.wait_for("#random", lambda _: _status(settings, run_id) == RunStatus.FAILED, timeout=10)
    assert run_id not in DONE
