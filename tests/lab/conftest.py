"""A fresh lab for each test that needs one, started and stopped with the ``etcdops lab`` CLI.

Each lab's API server writes an audit log; at teardown the calls the bot made (as its own persona, the
etcdops ServiceAccount, through the lab's cluster profile) are appended to one file for the session,
which the folder's last test (test_zz_rbac_covers_the_calls.py) checks against deploy/base/rbac.yaml.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.process import EtcdopsProcess
from bot.settings import Settings
from lab.credentials import BOT_USER
from lab.slack import LocalSlackThread, SlackConfig, SlackDriver
from tests.lab.botkit import lab_settings
from tests.lab.helpers import REPO, Lab, etcdops, lab_leftovers

pytestmark = pytest.mark.lab

HERE = Path(__file__).resolve().parent
RBAC_TEST = "test_zz_rbac_covers_the_calls.py"
_deselected_here: list[str] = []


def _lab_root(name: str) -> Path:
    return Path(os.environ.get("ETCDOPS_TEST_LAB_DIR", REPO / ".lab-tests")) / name


def bot_calls_file() -> Path:
    """The bot's API calls over the whole session: one audit record per line, with the test's name."""
    return _lab_root("bot-api-calls.jsonl")


def _collect_bot_calls(root: Path, test: str) -> None:
    audit = root / "logs" / "audit.jsonl"
    if not audit.exists():
        return
    lines = []
    for line in audit.read_text(errors="replace").splitlines():
        if BOT_USER not in line:
            continue  # the controllers' and the tests' own calls, most of the log
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a killed API server
        if record.get("user") == BOT_USER:
            lines.append(json.dumps({**record, "test": test}, separators=(",", ":")))
    if lines:
        with bot_calls_file().open("a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")


@pytest.fixture(scope="session", autouse=True)
def _bot_calls_file() -> None:
    """A new session starts the file anew: it holds this session's calls only."""
    path = bot_calls_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")


def _whole_folder(config: pytest.Config) -> bool:
    """Whether the command line asked for every test of this folder: a path that is this folder or
    one above it (``pytest``, ``pytest tests``, ``pytest tests/lab``), and nothing deselected here."""
    if _deselected_here:
        return False
    for arg in config.args:
        if "::" in arg:
            continue  # one test, or one class: not the folder
        target = (config.invocation_params.dir / arg).resolve()
        if target == HERE or target in HERE.parents:
            return True
    return False


def pytest_deselected(items: list[pytest.Item]) -> None:
    _deselected_here.extend(i.nodeid for i in items if i.path.parent == HERE)


IMAGE_TEST = "test_image.py"
IMAGE = "localhost/etcdops:lab-test"
IMAGE_BUILD = pytest.StashKey[tuple[subprocess.Popen[bytes], Path]]()
IMAGE_BUILD_AT = pytest.StashKey[str]()  # the node ID of the test the build starts beside
# The build starts when this share of the lab tests is left: late enough that the suite's other tests
# (run beside the lab's for their first ~6 minutes) are done and do not share the disk with it, early
# enough that it has finished by the image test (it takes a few minutes, debootstrap included).
IMAGE_BUILD_WHEN_LEFT = 0.45


def start_image_build(config: pytest.Config) -> None:
    """Build the image while the other lab tests run (lowest CPU and I/O priority): the image test,
    later in the folder, then finds it built instead of building it on the clock."""
    log = Path(tempfile.mkstemp(prefix="etcdops-image-build-", suffix=".log")[1])
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["nice", "-n", "19", "ionice", "-c3", str(REPO / "scripts/build-image.sh"), IMAGE],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    config.stash[IMAGE_BUILD] = (process, log)


def built_image(config: pytest.Config, timeout: float = 900) -> str:
    """The image the session's build made (waiting for it); fails with the build's log if it failed."""
    if IMAGE_BUILD not in config.stash:  # the test chosen to start it beside did not run
        start_image_build(config)
    process, log = config.stash[IMAGE_BUILD]
    code = process.wait(timeout)
    assert code == 0, f"scripts/build-image.sh failed ({code}):\n{log.read_text()[-4000:]}"
    log.unlink(missing_ok=True)  # kept only when the build failed
    return IMAGE


@pytest.hookimpl(tryfirst=True)  # before the terminal reporter prints what was collected
def pytest_collection_finish(session: pytest.Session) -> None:
    """The image test runs late, its image built meanwhile. The RBAC test needs the calls of the whole
    folder: it runs last, and only when all of it runs; otherwise it is deselected, with a note (part
    of the suite proves nothing about "unneeded").

    Here rather than in pytest_collection_modifyitems: by now every plugin has deselected what it
    would (-k, -m, --deselect, --lf), and the items are final."""
    image = [item for item in session.items if item.path.name == IMAGE_TEST]
    if image:
        for item in image:  # late, so the build has the other lab tests' time to finish in
            session.items.remove(item)
        session.items.extend(image)
        others = [item for item in session.items if item.path.name not in (IMAGE_TEST, RBAC_TEST)]
        start_at = others[int(len(others) * (1 - IMAGE_BUILD_WHEN_LEFT))] if others else image[0]
        session.config.stash[IMAGE_BUILD_AT] = start_at.nodeid
    rbac = [item for item in session.items if item.path.name == RBAC_TEST]
    if not rbac:
        return
    for item in rbac:
        session.items.remove(item)
    if _whole_folder(session.config):
        session.items.extend(rbac)  # last: after every lab test has left its calls in the file
        return
    session.config.hook.pytest_deselected(items=rbac)
    note = (
        f"note: {RBAC_TEST} deselected: it checks the RBAC against the calls of the whole tests/lab "
        "folder, and only part of it was selected"
    )
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(note, yellow=True)
    else:
        print(note)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Start the image build beside the test chosen for it (see IMAGE_BUILD_WHEN_LEFT)."""
    if item.config.stash.get(IMAGE_BUILD_AT, None) == item.nodeid and IMAGE_BUILD not in item.config.stash:
        start_image_build(item.config)


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    root = _lab_root(request.node.name[:40])
    up = etcdops("lab", "up", "--dir", str(root), check=False)
    assert up.returncode == 0, f"lab up failed:\n{up.stdout}\n{up.stderr}"
    try:
        yield Lab(root)
    finally:
        try:
            etcdops("lab", "down", "--dir", str(root))
        finally:
            _collect_bot_calls(root, request.node.nodeid)  # the API servers are down: the log is complete
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
