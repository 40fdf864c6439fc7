"""``etcdops demo``: the main job on its embedded defaults — the lab, the local Slack and the bot in one
go, a scripted ``/etcd status`` and ``/etcd backup`` typed by alice, the channel printed, and the bot
left running for you to try (``etcdops slack "/etcd status"``) until Ctrl-C.

Everything is real except the OpenShift API, which the lab serves from real etcd: the bot connects to
the local Slack over Socket Mode, keeps its runs in a SQLite file, and reaches the masters over SSH.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import SecretStr

from bot.process import EtcdopsProcess
from bot.settings import Settings
from lab.lifecycle import start_lab, stop_lab, wait_ready
from lab.paths import LabPaths
from lab.slack import LocalSlackThread, Message, SlackConfig, SlackDriver
from lab.slack.render import render

CHANNEL = "#etcd-lab"
SLACK_INFO = "slack.json"


@dataclass(frozen=True)
class DemoPlan:
    lab: LabPaths
    database_url: str
    slack_port: int = 0
    db_mb: int = 0


def local_slack_settings(
    config: SlackConfig, slack_url: str, *, database_url: str, clusters: Path, worker: str | None = None
) -> Settings:
    """The bot's settings for a local Slack (what `.env` would say in production)."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=SecretStr(config.bot_token),
        slack_app_token=SecretStr(config.app_token),
        slack_signing_secret=SecretStr(config.signing_secret),
        slack_api_url=f"{slack_url}/api/",
        database_url=database_url,
        etcdops_clusters=clusters,
        etcdops_worker=worker,
    )


def demo_settings(config: SlackConfig, slack_url: str, plan: DemoPlan) -> Settings:
    """The demo's: the local Slack, the lab's clusters file, the plan's database."""
    return local_slack_settings(
        config, slack_url, database_url=plan.database_url, clusters=plan.lab.cluster_profile
    )


def _bot_said_since(seen: int, predicate: Callable[[Message], bool]) -> Callable[[list[Message]], bool]:
    return lambda messages: any(predicate(m) for m in messages[seen:] if m.user == "U0BOT")


def _finished(message: Message) -> bool:
    first = message.text.split("\n", 1)[0]
    return "`backup`" in first and any(w in first for w in ("succeeded", "failed", "cancelled"))


def script(driver: SlackDriver, say: Callable[[str], None]) -> None:
    """What alice does in the demo, waiting each time for the bot's answer."""
    seen = len(driver.transcript(CHANNEL, as_user="*"))
    say("alice types /etcd status …")
    driver.slash("alice", CHANNEL, "/etcd", "status")
    driver.wait_for(CHANNEL, _bot_said_since(seen, lambda m: "*Members*" in m.text), timeout=60, as_user="*")
    seen = len(driver.transcript(CHANNEL, as_user="*"))
    say("alice types /etcd backup …")
    driver.slash("alice", CHANNEL, "/etcd", "backup")
    driver.wait_for(CHANNEL, _bot_said_since(seen, _finished), timeout=600, interval=0.5, as_user="*")
    say("alice types /etcd backups …")
    driver.slash("alice", CHANNEL, "/etcd", "backups")


def run_demo(plan: DemoPlan, say: Callable[[str], None], wait: Callable[[], None]) -> None:
    """Start everything, play the script, print the channel, then ``wait()`` before tearing down."""
    say(f"starting the lab in {plan.lab.root} …")
    started = time.monotonic()
    start_lab(plan.lab, db_mb=plan.db_mb, etcd_flavor="3.5")
    try:
        wait_ready(plan.lab, 120)
        say(f"lab ready in {time.monotonic() - started:.1f} s")
        config = SlackConfig()
        with LocalSlackThread(config, port=plan.slack_port) as slack:
            info_file = plan.lab.root / SLACK_INFO
            info_file.write_text(json.dumps({"url": slack.url, "channel": CHANNEL}) + "\n")
            settings = demo_settings(config, slack.url, plan)
            with EtcdopsProcess(settings):
                driver = SlackDriver(slack.url)
                say(f"local Slack at {slack.url}; the bot is connected over Socket Mode")
                script(driver, say)
                say(f"\n──── {CHANNEL}, as everyone sees it (ephemeral replies marked) ────")
                say(channel_text(driver))
                say(
                    "────\nThe bot is still running. Try, in another terminal:\n"
                    '  uv run etcdops slack "/etcd status"\n'
                    '  uv run etcdops slack "/etcd backup --host ip-127-0-0-12.ec2.internal" --as bob\n'
                    "  uv run etcdops lab fault stop-machine ip-127-0-0-11.ec2.internal\n"
                    "Ctrl-C here stops the bot, the local Slack and the lab."
                )
                wait()
            info_file.unlink(missing_ok=True)
    finally:
        say("stopping the lab …")
        stop_lab(plan.lab)


def channel_text(driver: SlackDriver, since: int = 0) -> str:
    """The channel from message ``since`` on, as text (ephemerals marked, threads indented); each
    message's text fallback says what its blocks say, so the blocks are not printed twice."""
    info = driver.info()
    names = {uid: name for name, uid in info["users"].items()}
    names[info["bot_user_id"]] = "bot"
    messages = driver.transcript(CHANNEL, as_user="*")[since:]
    return render([replace(m, blocks=None) for m in messages], names)


def read_slack_info(lab_root: Path) -> dict[str, str]:
    """Where the demo's local Slack listens (written by ``etcdops demo``)."""
    path = lab_root / SLACK_INFO
    if not path.exists():
        raise FileNotFoundError(f"no demo is running from {lab_root} (start one with: etcdops demo)")
    info: dict[str, str] = json.loads(path.read_text())
    return info
