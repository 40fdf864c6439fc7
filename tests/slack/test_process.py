"""``python -m lab.slack`` as a process: starts fast, writes its info file, serves, stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from slack_sdk import WebClient

from lab.slack import SlackDriver


def test_process_serves_and_stops(tmp_path: Path) -> None:
    info_file = tmp_path / "info.json"
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lab.slack",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--info-file",
            str(info_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        while not info_file.exists() or not info_file.read_text().endswith("\n"):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() - started < 10
            time.sleep(0.02)
        info = json.loads(info_file.read_text())
        client = WebClient(token=info["bot_token"], base_url=info["api_url"])
        assert client.auth_test()["user_id"] == info["bot_user_id"]
        assert SlackDriver(info["url"]).info()["channels"] == {"etcd-lab": "C0ETCDLAB"}
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert json.loads(out)["app_token"].startswith("xapp-")
