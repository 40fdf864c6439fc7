"""A fresh lab for each test that needs one, started and stopped with the ``etcdops lab`` CLI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.process import EtcdopsProcess
from bot.settings import Settings
from lab.slack import LocalSlackThread, SlackConfig, SlackDriver
from tests.lab.botkit import lab_settings
from tests.lab.helpers import REPO, Lab, etcdops, lab_leftovers

pytestmark = pytest.mark.lab


def _lab_root(name: str) -> Path:
    return Path(os.environ.get("ETCDOPS_TEST_LAB_DIR", REPO / ".lab-tests")) / name


@pytest.fixture(autouse=True)
def _root_only() -> None:
    if os.geteuid() != 0:
        pytest.fail("the lab tests need root (namespaces, sshd on port 22); run them as root")


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    root = _lab_root(request.node.name[:40])
    up = etcdops("lab", "up", "--dir", str(root), check=False)
    assert up.returncode == 0, f"lab up failed:\n{up.stdout}\n{up.stderr}"
    try:
        yield Lab(root)
    finally:
        etcdops("lab", "down", "--dir", str(root))
        left = lab_leftovers(root)
        assert not any(left.values()), f"lab down left things behind: {left}"


@pytest.fixture
def slack() -> Iterator[tuple[LocalSlackThread, SlackConfig]]:
    config = SlackConfig()
    with LocalSlackThread(config) as running:
        yield running, config


@pytest.fixture
def settings(lab: Lab, slack: tuple[LocalSlackThread, SlackConfig], tmp_path: Path) -> Settings:
    return lab_settings(lab, slack[0], slack[1], tmp_path)


@pytest.fixture
def bot(slack: tuple[LocalSlackThread, SlackConfig], settings: Settings) -> Iterator[SlackDriver]:
    with EtcdopsProcess(settings):
        yield SlackDriver(slack[0].url)
