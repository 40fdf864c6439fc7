"""The ``etcdops`` command line as an operator types it: migrate, the catalog, and clear refusals."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from storage import backups
from storage.db import make_engine, make_session_factory
from tests.bot.conftest import write_clusters_file

REPO = Path(__file__).resolve().parents[2]


def etcdops(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ETCDOPS_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        env={**clean, **env},
        cwd=REPO,
        timeout=60,
        check=False,
    )


def test_migrate_then_backups_lists_the_catalog(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'etcdops.db'}"
    env = {"DATABASE_URL": url, "ETCDOPS_CLUSTERS": str(write_clusters_file(tmp_path))}
    migrated = etcdops("migrate", env=env)
    assert migrated.returncode == 0 and "latest schema" in migrated.stdout, migrated.stderr
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            entry = backups.record_backup(
                session=session,
                cluster="lab",
                host="127.0.0.12",
                openshift_version="4.14.12",
                snapshot_size=3 * 2**20,
                snapshot_sha256="ab" * 32,
                location="/backups/lab/r-abcde",
                snapshot_name="snapshot_2026-12-01_120000.db",
                taken_at=dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC),
                etcd_revision=1234,
                key_count=70,
            )
            assert entry.id is not None
            backups.record_verification(entry.id, session=session, ok=True, detail="sha256 checked")
    finally:
        engine.dispose()
    listed = etcdops("backups", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "lab: 1 backup(s)" in listed.stdout and "prod-east: 0 backup(s)" in listed.stdout
    assert (
        "2026-12-01 12:00 UTC from 127.0.0.12" in listed.stdout and "revision 1234, 70 keys" in listed.stdout
    )
    one = etcdops("backups", "prod-east", env=env)
    assert one.stdout.strip() == "prod-east: 0 backup(s)"
    unknown = etcdops("backups", "nope", env=env)
    assert unknown.returncode == 2 and "no cluster 'nope'; the clusters are: lab, prod-east" in unknown.stderr


def test_serve_refuses_to_start_with_a_clear_reason(tmp_path: Path) -> None:
    no_file = etcdops(
        "serve",
        env={
            "SLACK_BOT_TOKEN": "xoxb-x",
            "SLACK_APP_TOKEN": "xapp-x",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db'}",
            "ETCDOPS_CLUSTERS": str(tmp_path / "missing.yaml"),
            "ETCDOPS_OPS_PORT": "0",  # the lab tests' serve processes may hold the default port meanwhile
        },
    )
    assert no_file.returncode == 2 and "missing.yaml: cannot read the clusters file" in no_file.stderr
    no_token = etcdops(
        "serve", env={"SLACK_BOT_TOKEN": "xoxb-x", "ETCDOPS_CLUSTERS": str(write_clusters_file(tmp_path))}
    )
    assert no_token.returncode == 2 and "Socket Mode needs SLACK_APP_TOKEN" in no_token.stderr
    assert "xoxb-x" not in no_file.stderr + no_token.stderr
