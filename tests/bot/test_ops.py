"""The ops port of the real bot process: /healthz, /readyz and /metrics, with the local Slack.

Readiness is shown turning with the things it watches, for real: a Slack that has not answered yet (the
local Slack's event loop held), a Slack that went away (the local Slack stopped), and a database that
refuses connections (PostgreSQL told to, then allowed again).
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import MissingSetting
from bot.demo import local_slack_settings
from bot.process import EtcdopsProcess
from bot.settings import Settings
from lab.slack import LocalSlackThread, SlackConfig, SlackDriver
from storage import backups
from storage.db import make_engine, make_session_factory
from tests.bot.conftest import CHANNEL, write_clusters_file
from tests.storage import conftest as storage_fixtures

postgres_server = storage_fixtures.postgres_server  # the throwaway PostgreSQL of the storage tests


def get(base: str, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(base + path, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def readyz(base: str) -> tuple[int, dict[str, Any]]:
    status, body = get(base, "/readyz")
    return status, json.loads(body)


def wait_until(condition: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout} s")
        time.sleep(0.05)


def samples(base: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    status, text = get(base, "/metrics")
    assert status == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def ops_bot(
    local_slack: tuple[LocalSlackThread, SlackConfig], settings: Settings
) -> Iterator[tuple[SlackDriver, EtcdopsProcess]]:
    slack, _ = local_slack
    with EtcdopsProcess(settings, ops_port=0) as bot:
        yield SlackDriver(slack.url), bot


def test_probes_and_metrics_of_a_connected_bot(ops_bot: tuple[SlackDriver, EtcdopsProcess]) -> None:
    driver, bot = ops_bot
    assert bot.ops_url is not None
    assert get(bot.ops_url, "/healthz") == (200, '{"alive": true}')
    _, body = wait_until(lambda: (r := readyz(bot.ops_url or "")) and r[0] == 200 and r, what="ready")
    assert body == {"ready": True, "checks": {"database": "ok", "slack": "ok"}}
    assert get(bot.ops_url, "/nope")[0] == 404

    def runs(found: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> float:
        return sum(
            sample(found, "etcdops_runs_total", procedure="status", outcome=o)
            for o in ("succeeded", "failed")
        )

    before = samples(bot.ops_url)
    driver.slash("alice", CHANNEL, "/etcd", "status")
    driver.wait_for(CHANNEL, lambda ms: any("the Kubernetes API is unreachable" in m.text for m in ms), 20)
    after = wait_until(lambda: (s := samples(bot.ops_url or "")) and runs(s) == runs(before) + 1 and s, 5)
    steps = [
        k for k in after if k[0] == "etcdops_step_duration_seconds_count" and ("procedure", "status") in k[1]
    ]
    assert steps and sum(after[k] for k in steps) > sum(before.get(k, 0.0) for k in steps)
    assert ("process_resident_memory_bytes", frozenset()) in after, "the process collectors come along"


def test_backup_gauges_come_from_the_catalog_at_each_scrape(
    ops_bot: tuple[SlackDriver, EtcdopsProcess], settings: Settings
) -> None:
    _, bot = ops_bot
    assert bot.ops_url is not None
    age = "etcdops_backup_last_good_age_seconds"
    assert sample(samples(bot.ops_url), age, cluster="prod-east") == float("inf")
    engine = make_engine(settings.database_url)  # as another replica (or the runner) would record it
    try:
        with make_session_factory(engine)() as session:
            entry = backups.record_backup(
                session=session,
                cluster="prod-east",
                host="127.0.0.11",
                openshift_version="4.14.12",
                snapshot_size=2_000_000,
                snapshot_sha256="cd" * 32,
                location="/backups/prod-east/r-ops00",
                snapshot_name="snapshot_ops.db",
                taken_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
            )
            assert entry.id is not None
            backups.record_verification(entry.id, session=session, ok=True)
    finally:
        engine.dispose()
    found = samples(bot.ops_url)
    assert 3600 <= sample(found, age, cluster="prod-east") < 3700
    assert sample(found, "etcdops_backup_last_good_size_bytes", cluster="prod-east") == 2_000_000


def test_not_ready_until_slack_answers_and_again_when_it_goes_away(tmp_path: Path) -> None:
    config = SlackConfig()
    slack = LocalSlackThread(config).start()
    held = threading.Event()
    try:
        # Slack does not answer yet: its event loop is held, so auth.test and the Socket Mode handshake wait.
        slack._loop.call_soon_threadsafe(held.wait, 30)
        settings = local_slack_settings(
            config,
            slack.url,
            database_url=f"sqlite:///{tmp_path / 'etcdops.db'}",
            clusters=write_clusters_file(tmp_path),
            worker="ops-worker",
        )
        bot = EtcdopsProcess(settings, ops_port=0)
        starting = threading.Thread(target=bot.start, daemon=True)
        starting.start()
        try:
            base = wait_until(lambda: bot.ops_url, what="the ops port")
            assert get(base, "/healthz")[0] == 200, "alive while it starts"
            status, body = wait_until(
                lambda: (r := readyz(base)) and r[1]["checks"]["database"] == "ok" and r
            )
            assert status == 503 and body["ready"] is False
            assert body["checks"]["slack"] == "not connected yet (starting or stopping)"
            held.set()
            starting.join(30)
            assert not starting.is_alive()
            assert wait_until(lambda: readyz(base)[0] == 200, what="ready once Slack answered")
            slack.stop()
            status, body = wait_until(lambda: (r := readyz(base)) and r[0] == 503 and r, what="Slack gone")
            assert body["checks"] == {
                "database": "ok",
                "slack": "Socket Mode is not connected (reconnecting)",
            }
            assert get(base, "/healthz")[0] == 200, "still alive: a restart would not bring Slack back"
        finally:
            held.set()
            starting.join(30)
            bot.stop()
        assert bot.ops_url is None
    finally:
        held.set()
        slack.stop()


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    server: storage_fixtures.PostgresServer = request.getfixturevalue("postgres_server")
    name = "ops_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server.admin_conninfo(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.url(name), name
    finally:
        with psycopg.connect(server.admin_conninfo(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_not_ready_while_the_database_refuses_connections(
    local_slack: tuple[LocalSlackThread, SlackConfig],
    postgres_url: tuple[str, str],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    slack, config = local_slack
    url, name = postgres_url
    server: storage_fixtures.PostgresServer = request.getfixturevalue("postgres_server")
    settings = local_slack_settings(
        config, slack.url, database_url=url, clusters=write_clusters_file(tmp_path), worker="ops-pg-worker"
    )
    with (
        EtcdopsProcess(settings, ops_port=0) as bot,
        psycopg.connect(server.admin_conninfo(), autocommit=True) as admin,
    ):
        base = bot.ops_url
        assert base is not None
        assert wait_until(lambda: readyz(base)[0] == 200, what="ready")
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        try:
            _, body = wait_until(lambda: (r := readyz(base)) and r[0] == 503 and r, what="not ready")
            assert body["checks"]["slack"] == "ok"
            assert f'database "{name}" is not currently accepting connections' in body["checks"]["database"]
            assert get(base, "/healthz")[0] == 200
            assert get(base, "/metrics")[0] == 200, "a scrape still answers (without the catalog's gauges)"
        finally:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        assert wait_until(lambda: readyz(base)[0] == 200, what="ready again")


def test_a_taken_ops_port_is_refused_with_the_setting_to_change(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        bot = EtcdopsProcess(settings, ops_port=port)
        with pytest.raises(
            MissingSetting, match=f"127.0.0.1:{port}: Address already in use; set ETCDOPS_OPS_PORT"
        ):
            bot.start()
    assert bot.wiring is None and bot.ops is None, "nothing was started"
