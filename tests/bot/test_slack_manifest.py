"""The manifest's bot scopes against the real bot: the local Slack grants exactly them (and
connections:write to the app-level token, as a real install would), the whole bot process connects over
Socket Mode, and a session makes every kind of Web API call the bot makes without the lab — run messages
posted and edited, step replies in threads, an approval message and clicks on it (the approver check asks
for the user group), an incident exported as a file (names of people and channels looked up). Slack
refuses a call whose scope is missing with ``missing_scope``, and the local Slack records every call, so
the check is: no refusal, and every method of ``BOT_METHODS`` was called. Dropping any one scope from the
grant makes the check name the methods that need it, so the test can fail.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.blocks import APPROVE_ACTION, FINISHED, REJECT_ACTION
from bot.process import EtcdopsProcess
from bot.settings import Settings
from lab.slack import CommandResult, FileRecord, LocalSlackThread, Message, SlackConfig, SlackDriver
from lab.slack.config import ChannelSpec
from lab.slack.model import ApiCall
from runner.steps import StepContext, StepSpec
from storage import approvals, cursors, runs
from storage.db import SessionFactory, make_engine, make_session_factory
from storage.models import TimelineEvent
from tests.bot.conftest import CHANNEL, bot_settings
from tests.slack_manifest import (
    APP_TOKEN_SCOPES,
    BOT_METHODS,
    FEATURE_SCOPES,
    FRAMEWORK_METHODS,
    manifest_bot_scopes,
    scope_failures,
    scope_of,
)

CHANNELS = (ChannelSpec("C0ETCDLAB", "etcd-lab"), ChannelSpec("C0RANDOM", "random"))
RUN_ID = re.compile(r"\(run `(r-[a-z0-9]+)`")


class RehearsedRemoval:
    """One destructive step behind a member-removal approval; it never runs here (carol rejects it)."""

    name = "rehearsal"
    destructive = True
    adaptive = False

    def steps(self, context: StepContext) -> list[StepSpec]:
        def remove(ctx: StepContext) -> dict[str, Any]:
            raise AssertionError("a rejected step must not run")

        def describe(ctx: StepContext) -> dict[str, Any]:
            return {"commands": ["etcdctl member remove 8e4a1f2d3c4b5a69"]}

        return [StepSpec("remove", "Remove the member", remove, approval="member_removal", describe=describe)]

    def summary(self, context: StepContext) -> str:
        return "member removed"


def slack_config(bot_scopes: tuple[str, ...], *, max_retries: int = 3) -> SlackConfig:
    return SlackConfig(
        bot_scopes=bot_scopes, app_scopes=APP_TOKEN_SCOPES, channels=CHANNELS, max_retries=max_retries
    )


def _wait(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout}s")
        time.sleep(0.05)


@dataclass
class Session:
    """The humans' side of one session, and enough of the database to know when the bot is done."""

    driver: SlackDriver
    sessions: SessionFactory

    def slash(self, user: str, text: str) -> CommandResult:
        result = self.driver.slash(user, CHANNEL, "/etcd", text)
        assert result.acked, f"/etcd {text} was not acked"
        return result

    def start(self, user: str, text: str) -> str:
        """Type a command that starts a run; its ID from the ack (sent through response_url: no scope)."""
        replies = " ".join(m.text for m in self.slash(user, text).replies)
        found = RUN_ID.search(replies)
        assert found, replies
        return found.group(1)

    def finished(self, run_id: str) -> bool:
        with self.sessions() as session:
            return runs.get_run(run_id, session=session).status in FINISHED

    def status(self, run_id: str) -> str:
        with self.sessions() as session:
            return runs.get_run(run_id, session=session).status

    def relay_caught_up(self) -> bool:
        """The relay has handled every event so far (it moves on after logging a call Slack refused)."""
        with self.sessions() as session:
            last = session.exec(select(func.max(TimelineEvent.id))).one() or 0
            return cursors.cursor_position("slack", session=session) >= last

    def settle(self, *run_ids: str, timeout: float = 20) -> None:
        _wait(lambda: all(self.finished(r) for r in run_ids), timeout, f"runs {run_ids} finish")
        _wait(self.relay_caught_up, timeout, "the relay shows every event")

    def request_rehearsal(self) -> str:
        with self.sessions() as session:
            return runs.create_run(
                session=session,
                procedure="rehearsal",
                cluster="lab",
                requested_by="U0ALICE",
                channel="C0ETCDLAB",
                destructive=True,
            ).id

    def rejected(self, run_id: str) -> bool:
        with self.sessions() as session:
            approval = approvals.latest_approval(run_id, 1, session=session)
            if approval is None or approval.id is None:
                return False
            return approvals.approval_state(approval.id, session=session).rejected_by is not None

    def approval_message(self, run_id: str) -> Message | None:
        messages = self.driver.transcript(CHANNEL)
        return next(
            (m for m in messages if "Approval needed" in m.text and f"run `{run_id}`" in m.text and m.blocks),
            None,
        )


def drive(session: Session) -> None:
    """Every kind of Web API call the bot makes; runs against clusters whose API does not answer.

    It waits on the database (runs finished, relay caught up), never on what Slack shows, so it gets
    through whatever Slack refuses; what was refused is read from the local Slack's call log after.
    """
    # Answered through the ack and response_url alone: no Web API call, no scope.
    assert "etcdops commands" in " ".join(m.text for m in session.slash("alice", "help").replies)
    session.slash("alice", "incident open manifest scope check")

    # A report: posted once when it is in (chat.postMessage).
    status = session.start("alice", "status")
    # Steps: the run's message posted, then edited as it fails (chat.update), step replies in its thread.
    backup = session.start("alice", "backup")
    session.settle(status, backup)

    # An approval message (chat.postMessage); a click by someone outside the policy's group makes the bot
    # look the group up (usergroups.list, usergroups.users.list); a rejection edits it (chat.update).
    rehearsal = session.request_rehearsal()
    _wait(lambda: session.status(rehearsal) == "waiting_approval", 20, "the rehearsal waits for approval")
    _wait(session.relay_caught_up, 20, "the relay shows the approval request")
    message = session.approval_message(rehearsal)
    if message is not None:  # not posted when Slack refused it: nothing to click
        value = str(message.blocks[-1]["elements"][0]["value"])  # type: ignore[index]
        checked = session.driver.click(
            "mallory", message.ts, APPROVE_ACTION, value, channel=CHANNEL, settle=0.5
        )
        if checked.acked:  # unacked (Slack refused the lookup): carol's click would fail the same way
            session.driver.click("carol", message.ts, REJECT_ACTION, value, channel=CHANNEL, settle=0.5)
    if not session.rejected(rehearsal):  # the approver check could not ask Slack, or nothing was posted
        session.slash("alice", f"cancel {rehearsal}")
    session.settle(rehearsal)

    # The export: names of people (users.info) and channels (conversations.info), then the Markdown file
    # (files_upload_v2: files.getUploadURLExternal, the upload, files.completeUploadExternal).
    session.slash("bob", "incident close")
    session.slash("alice", "incident export")
    session.settle()


@dataclass(frozen=True)
class Outcome:
    """What the local Slack recorded, read before it stops."""

    calls: list[ApiCall]
    transcript: list[Message]
    files: list[FileRecord]

    @property
    def methods(self) -> set[str]:
        return {call.method for call in self.calls}


def run_session(bot_scopes: tuple[str, ...], folder: Path, *, max_retries: int = 3) -> Outcome:
    config = slack_config(bot_scopes, max_retries=max_retries)
    with LocalSlackThread(config) as slack:
        settings: Settings = bot_settings(slack, config, folder)
        engine = make_engine(settings.database_url)
        try:
            with EtcdopsProcess(settings, extra_procedures={"rehearsal": RehearsedRemoval()}):
                driver = SlackDriver(slack.url)
                drive(Session(driver, make_session_factory(engine)))
        finally:
            engine.dispose()
        return Outcome(driver.api_calls(), driver.transcript(CHANNEL, as_user="*"), driver.files(CHANNEL))


@pytest.fixture(scope="module")
def granted_manifest_scopes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    yield run_session(manifest_bot_scopes(), tmp_path_factory.mktemp("manifest"))


def test_the_manifest_scopes_let_every_call_of_the_bot_through(granted_manifest_scopes: Outcome) -> None:
    outcome = granted_manifest_scopes
    assert scope_failures(outcome.calls) == {}, "Slack refused calls: add the scopes to the manifest"
    assert outcome.methods >= BOT_METHODS, f"the session never called {sorted(BOT_METHODS - outcome.methods)}"
    unexpected = outcome.methods - BOT_METHODS - FRAMEWORK_METHODS
    assert not unexpected, f"the bot called {sorted(unexpected)}: add them to tests/slack_manifest.py"
    assert not [c for c in outcome.calls if not c.ok], [c for c in outcome.calls if not c.ok]


def test_the_session_really_did_what_needs_each_scope(granted_manifest_scopes: Outcome) -> None:
    transcript = granted_manifest_scopes.transcript
    assert [m for m in transcript if "the Kubernetes API is unreachable" in m.text], "status report"
    assert [m for m in transcript if m.thread_ts and m.user == "U0BOT"], "a step reply in a run's thread"
    assert [m for m in transcript if ":no_entry: Rejected" in m.text and m.edits], "the approval, edited"
    assert [m for m in transcript if "Only @etcd-approvers may approve" in m.text], "mallory was checked"
    [record] = granted_manifest_scopes.files
    markdown = record.content.decode()
    assert record.completed and record.name.endswith("-timeline.md")
    assert "alice" in markdown and "U0ALICE" not in markdown, "people shown by name (users.info)"
    assert "#etcd-lab" in markdown and "C0ETCDLAB" not in markdown, "channels shown by name"


MANIFEST_METHOD_SCOPES = sorted(set(manifest_bot_scopes()) - set(FEATURE_SCOPES))


@pytest.mark.parametrize("dropped", MANIFEST_METHOD_SCOPES)
def test_a_missing_scope_is_reported_with_the_calls_that_need_it(
    dropped: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    scopes = tuple(s for s in manifest_bot_scopes() if s != dropped)
    # A click whose approver check Slack refused goes unacked: no redelivery, to keep this quick.
    outcome = run_session(scopes, tmp_path_factory.mktemp(dropped.replace(":", "-")), max_retries=0)
    failures = scope_failures(outcome.calls)
    assert failures, f"without {dropped} Slack refused nothing: the check could never fail"
    assert all(f"needs {dropped}" in why for why in failures.values()), failures
    needing = {m for m in BOT_METHODS if scope_of(m) == dropped}
    assert set(failures) <= needing and set(failures), (failures, needing)
