"""The real bot process (Bolt app, runner, relay) against the local Slack, on a throwaway SQLite file.

Its clusters file names two clusters whose API does not answer (nothing listens on their port), which is
all the bot's Slack surface needs: commands are parsed, recorded and answered, and a status run reports
the unreachable API plainly. Procedures against a real cluster are tested in tests/lab.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.demo import local_slack_settings
from bot.process import EtcdopsProcess
from bot.settings import Settings
from lab.slack import LocalSlackThread, SlackConfig, SlackDriver
from lab.slack.config import ChannelSpec
from lab.unreachable import CHANNEL, write_clusters_file

__all__ = ["CHANNEL", "bot_settings", "write_clusters_file"]


def bot_settings(slack: LocalSlackThread, config: SlackConfig, folder: Path) -> Settings:
    return local_slack_settings(
        config,
        slack.url,
        database_url=f"sqlite:///{folder / 'etcdops.db'}",
        clusters=write_clusters_file(folder),
        worker="test-worker",
    )


@pytest.fixture(scope="module")
def local_slack() -> Iterator[tuple[LocalSlackThread, SlackConfig]]:
    config = SlackConfig(channels=(ChannelSpec("C0ETCDLAB", "etcd-lab"), ChannelSpec("C0RANDOM", "random")))
    with LocalSlackThread(config) as slack:
        yield slack, config


@pytest.fixture(scope="module")
def settings(
    local_slack: tuple[LocalSlackThread, SlackConfig], tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    slack, config = local_slack
    return bot_settings(slack, config, tmp_path_factory.mktemp("bot"))


@pytest.fixture(scope="module")
def socket_bot(
    local_slack: tuple[LocalSlackThread, SlackConfig], settings: Settings
) -> Iterator[SlackDriver]:
    slack, _ = local_slack
    with EtcdopsProcess(settings):
        yield SlackDriver(slack.url)
