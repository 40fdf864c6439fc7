"""The real bot process (Bolt app, runner, relay) against the local Slack, on a throwaway SQLite file.

Its clusters file names two clusters whose API does not answer (nothing listens on their port), which is
all the bot's Slack surface needs: commands are parsed, recorded and answered, and a status run reports
the unreachable API plainly. Procedures against a real cluster are tested in tests/lab.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from bot.process import EtcdopsProcess
from bot.settings import Settings
from lab.slack import LocalSlackThread, SlackConfig, SlackDriver
from lab.slack.config import ChannelSpec

CHANNEL = "#etcd-lab"
DEAD_API = "https://127.0.0.1:9"  # the discard port: connection refused at once


def write_clusters_file(folder: Path) -> Path:
    kubeconfig = folder / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "dead", "cluster": {"server": DEAD_API, "insecure-skip-tls-verify": True}}
                ],
                "users": [{"name": "admin", "user": {"token": "not-a-real-token"}}],
                "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "admin"}}],
                "current-context": "dead",
            }
        )
    )
    ssh = {"user": "core", "key": str(folder / "id_ed25519"), "known_hosts": str(folder / "known_hosts")}
    clusters = [
        {
            "name": name,
            "kubeconfig": str(kubeconfig),
            "ssh": ssh,
            "backup_store": {"type": "local", "path": str(folder / "backups")},
            "default_channel": channel,
            "approvals": {"member_removal": {"approvers": 2, "group": "etcd-approvers", "expiry": expiry}},
        }
        for name, channel, expiry in (("lab", CHANNEL, "30m"), ("prod-east", "#prod", "3s"))
    ]
    path = folder / "clusters.yaml"
    path.write_text(yaml.safe_dump({"clusters": clusters}))
    return path


def bot_settings(slack: LocalSlackThread, config: SlackConfig, folder: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=SecretStr(config.bot_token),
        slack_app_token=SecretStr(config.app_token),
        slack_signing_secret=SecretStr(config.signing_secret),
        slack_api_url=f"{slack.url}/api/",
        database_url=f"sqlite:///{folder / 'etcdops.db'}",
        etcdops_clusters=write_clusters_file(folder),
        etcdops_worker="test-worker",
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
