"""Health reports and an incident timeline against the lab, through the local Slack.

The health watch (every report cycle of the bot's clock, moved by the test) tells the channel once when
the cluster turns red after ``lab fault stop-machine`` and once when it is green again after ``heal`` —
nothing in between while the state holds. Then an incident opened in #etcd-lab and followed from #sre
collects a replace of a crash-looping member with its approvals, the health changes and both channels'
notes, and its export is an ordered Markdown timeline without any secret.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.process import EtcdopsProcess
from lab.slack import LocalSlackThread, Message, SlackConfig, SlackDriver
from lab.slack.config import ChannelSpec
from tests.lab.botkit import (
    CHANNEL,
    MovableClock,
    approve_what_is_pending,
    finished_run_message,
    lab_settings,
    run_id_of,
)
from tests.lab.helpers import Lab, etcdops, wait_for

SRE = "#sre"
STOPPED = "ip-127-0-0-11.ec2.internal"
CRASHING = "ip-127-0-0-12.ec2.internal"
# The watch's cycle on the bot's clock: an hour, so that real minutes spent waiting for the lab never
# add a round the test did not ask for (the clock is moved a cycle at a time).
CYCLE = dt.timedelta(hours=1)
CANARY = "xoxb-1111-2222-CANARYSECRET"


@pytest.fixture
def slack() -> Iterator[tuple[LocalSlackThread, SlackConfig]]:
    """The local Slack with a second channel, #sre, to follow the incident from."""
    config = SlackConfig(channels=(ChannelSpec("C0ETCDLAB", "etcd-lab"), ChannelSpec("C0SRE", "sre")))
    with LocalSlackThread(config) as running:
        yield running, config


def health_changes(driver: SlackDriver) -> list[str]:
    """The bot's on-change health messages in the channel, oldest first."""
    pattern = re.compile(r"\*lab\* (turned|recovered|improved|still)\b")
    return [
        m.text.split("\n")[0]
        for m in driver.transcript(CHANNEL)
        if m.user == "U0BOT" and pattern.search(m.text)
    ]


def next_cycle(clock: MovableClock, bot: EtcdopsProcess) -> None:
    """Move the clock one cycle on and wait until the watch has had its round at that time."""
    moved = clock.advance(CYCLE + dt.timedelta(seconds=1))
    assert bot.wiring is not None
    bot.wiring.schedules.wake()

    def round_done() -> bool:
        assert bot.wiring is not None
        started, ended = bot.wiring.schedules.periodic_rounds()[0]
        return started is not None and ended is not None and started >= moved and ended >= started

    wait_for("the health watch's round", round_done, 60, 0.2)


def settle(driver: SlackDriver, clock: MovableClock, bot: EtcdopsProcess, count: int) -> list[str]:
    """One report cycle; then wait until the channel shows ``count`` health changes (and no more)."""
    next_cycle(clock, bot)
    return wait_for(
        f"{count} health change(s)",
        lambda: found if len(found := health_changes(driver)) >= count else None,
        45,
        0.5,
    )


def quiet_cycles(driver: SlackDriver, clock: MovableClock, bot: EtcdopsProcess, cycles: int = 2) -> None:
    """Cycles in which the state holds: the watch must not post again."""
    before = health_changes(driver)
    for _ in range(cycles):
        next_cycle(clock, bot)
    assert health_changes(driver) == before


@pytest.mark.timeout(600)  # a backup, seven watch cycles, two faults healed and a replace with approvals
def test_health_watch_and_an_incident_timeline(
    lab: Lab, slack: tuple[LocalSlackThread, SlackConfig], tmp_path: Path
) -> None:
    settings = lab_settings(lab, slack[0], slack[1], tmp_path).model_copy(
        update={"etcdops_scheduler_poll_seconds": 0.5, "etcdops_health_watch_seconds": CYCLE.total_seconds()}
    )
    clock = MovableClock()
    driver = SlackDriver(slack[0].url)
    with EtcdopsProcess(settings, clock=clock) as bot:
        driver.slash("alice", CHANNEL, "/etcd", "use lab")
        backup = finished_run_message(driver, run_id_of(driver.slash("alice", CHANNEL, "/etcd", "backup")))
        assert "succeeded" in backup.text.split("\n")[0], backup.text

        # A daily report in this channel, due within the hour (not at midnight: moving the clock up to a
        # day on would age the backup past the cluster's 24 h limit, and the report would be amber);
        # its first firing is a green report.
        slot = (clock() + dt.timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
        if slot - clock() < dt.timedelta(minutes=2):  # too close: it might pass before the schedule exists
            slot += dt.timedelta(hours=1)
        made = driver.slash("alice", CHANNEL, "/etcd", f"schedule health 0 {slot.hour} * * *")
        assert any("schedule `s-" in m.text for m in made.in_channel), made
        clock.move_to(slot + dt.timedelta(seconds=1))
        assert bot.wiring is not None
        bot.wiring.schedules.wake()
        report = driver.wait_for(
            CHANNEL,
            lambda ms: next((m for m in ms if "*lab* is GREEN" in m.text), None),
            timeout=60,
            interval=0.5,
        )
        assert "all 3 members healthy" in report.text, report.text
        quiet_cycles(driver, clock, bot)  # green holds: the watch says nothing

        # An incident: opened here, followed from #sre; a replace with its approvals joins it.
        title = "etcd member crash-looping on master-1"
        opened = driver.slash("alice", CHANNEL, "/etcd", f"incident open {title}")
        number = re.search(r"incident #(\d+)", " ".join(m.text for m in opened.in_channel + opened.ephemeral))
        assert number, opened
        followed = driver.slash("bob", SRE, "/etcd", f"incident follow #{number.group(1)}")
        assert any("follow" in m.text for m in followed.in_channel), followed
        driver.slash("bob", SRE, "/etcd", f"incident note paging the etcd owners; token {CANARY} was pasted")
        driver.slash("alice", CHANNEL, "/etcd", "incident note replacing master-1 as seed 2.4.2 says")

        etcdops("lab", "fault", "crashloop", CRASHING)
        wait_for(
            "the member to be unhealthy",
            lambda: "2 of 3" in lab.condition("etcd", "EtcdMembersAvailable"),
            60,
        )
        (red,) = settle(driver, clock, bot, 1)  # on the incident's timeline too
        assert "*lab* turned RED" in red and CRASHING in red, red
        replace = run_id_of(driver.slash("alice", CHANNEL, "/etcd", f"replace {CRASHING}"))
        approved = 0

        def done() -> Message | None:
            nonlocal approved
            approved += approve_what_is_pending(driver, replace)
            found = [
                m
                for m in driver.transcript(CHANNEL)
                if f"run `{replace}`" in m.text and "`replace`" in m.text
            ]
            first = found[0].text.split("\n")[0] if found else ""
            return found[0] if any(w in first for w in ("succeeded", "failed", "cancelled")) else None

        finished = wait_for("the replace to finish", done, timeout=420, interval=2)
        assert "succeeded" in finished.text.split("\n")[0], finished.text
        assert approved >= 2
        lab.wait_settled()
        lab.wait_members_available(90)  # the operator's condition, which the report also reads
        changes = settle(driver, clock, bot, 2)
        assert "*lab* recovered" in changes[-1], changes

        closed = driver.slash("alice", CHANNEL, "/etcd", "incident close")
        assert any("closed" in m.text for m in closed.in_channel), closed
        driver.slash("alice", CHANNEL, "/etcd", "incident export")
        exported = wait_for("the exported timeline", lambda: next(iter(driver.files()), None), 30, 0.5)
        markdown = exported.content.decode()
        (tmp_path / "exported.md").write_text(markdown)  # kept with the test's files, to read on failure

        # Then a machine stops: red within one report cycle, said once (the third change).
        etcdops("lab", "fault", "stop-machine", STOPPED)
        wait_for(
            "the member to be unhealthy",
            lambda: "2 of 3" in lab.condition("etcd", "EtcdMembersAvailable"),
            60,
        )
        red = settle(driver, clock, bot, 3)[-1]
        assert len(health_changes(driver)) == 3 and "*lab* turned RED" in red and STOPPED in red, red
        quiet_cycles(driver, clock, bot)

        # Healed: green again, said once.
        etcdops("lab", "heal")
        lab.wait_settled()
        lab.wait_members_available(90)  # the operator's condition, which the report also reads
        changes = settle(driver, clock, bot, 4)
        assert len(changes) == 4 and "*lab* recovered" in changes[3], changes
        quiet_cycles(driver, clock, bot)

    assert markdown.startswith("# Incident #"), markdown[:200]
    for expected in (
        title,
        replace,
        "member removal",
        "bob",
        "carol",
        "paging the etcd owners",
        "replacing master-1 as seed 2.4.2 says",
        "#sre",
        "Health of lab — **red**",
        "Health of lab — **green**",
        " UTC",
    ):
        assert expected in markdown, expected
    assert CANARY not in markdown and "CANARYSECRET" not in markdown
    assert "BEGIN" not in markdown and "PRIVATE KEY" not in markdown
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() not in markdown
    times = re.findall(r"^\| (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC \|", markdown, flags=re.MULTILINE)
    assert len(times) > 10 and times == sorted(times), times
