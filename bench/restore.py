"""Restore time: ``/etcd restore`` from the last approval to 3 of 3 healthy, against a plain script.

On a lab whose etcd holds about ``--db-mb`` MB (512 by default), alice takes one backup through the bot.
Then each round breaks the cluster the same way (``lab fault lose-quorum``: two members crash-loop, the
API goes down) and restores it from that backup, once each way, in alternating order:

- **baseline**: ``bench/restore_baseline.sh``, the seed's commands as a plain bash script (scp of the
  backup to the recovery host, the manifests and data moved off the other masters, cluster-restore.sh,
  kubelet restarts, the four forced redeployments, waiting for 3 healthy members), polling every second;
- **etcdops**: alice types ``/etcd restore #N``; bob and carol approve; the clock starts at carol's click
  and stops when the run's message in the channel says it succeeded — the same work plus a SHA-256 check
  of the copy, a probe-able journal entry per step, and the channel kept up to date.

Both restore onto the same recovery host from the same files. It prints each round, the medians and
their ratio. Needs root (the lab). Exit code 0 whether the ratio is good or not: this is a measurement.

    uv run python -m bench.restore [--db-mb 512] [--rounds 1] [--dir .lab-bench]
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.backup_overhead import _finished as finished_backup
from bot.blocks import APPROVE_ACTION
from bot.demo import CHANNEL, DemoPlan, demo_settings
from bot.process import EtcdopsProcess
from lab.lifecycle import start_lab, stop_lab, wait_ready
from lab.paths import LabPaths
from lab.slack import LocalSlackThread, Message, SlackConfig, SlackDriver

RECOVERY = ("ip-127-0-0-11.ec2.internal", "127.0.0.11")
OTHERS = ("127.0.0.12", "127.0.0.13")
BASELINE = Path(__file__).with_name("restore_baseline.sh")


def lab_cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "bot.cli", "lab", *args], check=True, capture_output=True)


def api_down(lab: LabPaths) -> bool:
    done = subprocess.run(
        ["kubectl", "--kubeconfig", str(lab.kubeconfig), "--request-timeout=5s", "get", "nodes"],
        capture_output=True,
        check=False,
    )
    return done.returncode != 0


def break_cluster(lab: LabPaths) -> None:
    """Forget the previous round's faults (the restore replaced those members), then lose quorum."""
    lab_cli("heal")
    lab_cli("fault", "lose-quorum")
    deadline = time.monotonic() + 120
    while not api_down(lab):
        if time.monotonic() > deadline:
            raise RuntimeError("the API did not go down after lose-quorum")
        time.sleep(1)


def take_backup(driver: SlackDriver) -> tuple[int, Path]:
    """alice's ``/etcd backup`` on the recovery host; the catalog number and the stored files' folder."""
    seen = len(driver.transcript(CHANNEL, as_user="*"))
    driver.slash("alice", CHANNEL, "/etcd", f"backup --host {RECOVERY[0]}", settle=0)
    done: Message = driver.wait_for(CHANNEL, finished_backup(seen), timeout=600, as_user="*")  # type: ignore[arg-type]
    number = re.search(r"backup #(\d+)", done.text)
    assert number and "succeeded" in done.text.split("\n", 1)[0], done.text
    listed = " ".join(m.text for m in driver.slash("alice", CHANNEL, "/etcd", "backups").ephemeral)
    folder = re.search(r"`(/[^`]+)/snapshot_[^`/]+\.db`", listed)
    assert folder, listed
    return int(number.group(1)), Path(folder.group(1))


def baseline(lab: LabPaths, folder: Path) -> float:
    env = {
        **os.environ,
        "SSH_KEY": str(lab.ssh_key),
        "KNOWN_HOSTS": str(lab.known_hosts),
        "KUBECONFIG": str(lab.kubeconfig),
    }
    started = time.monotonic()
    subprocess.run(["bash", str(BASELINE), str(folder), RECOVERY[1], *OTHERS], check=True, env=env)
    return time.monotonic() - started


def with_etcdops(driver: SlackDriver, number: int) -> float:
    """From carol's approval (the last one) to the run's message saying the restore succeeded."""
    seen = len(driver.transcript(CHANNEL, as_user="*"))
    driver.slash("alice", CHANNEL, "/etcd", f"restore #{number}", settle=0)

    def asked(messages: list[Message]) -> Message | None:
        return next((m for m in messages[seen:] if "Approval needed: *restore*" in m.text), None)

    request: Message = driver.wait_for(CHANNEL, asked, timeout=300, as_user="*", interval=0.1)
    value = str(request.blocks[-1]["elements"][0]["value"])  # type: ignore[index]
    driver.click("bob", request.ts, APPROVE_ACTION, value, channel=CHANNEL, settle=0)
    started = time.monotonic()
    driver.click("carol", request.ts, APPROVE_ACTION, value, channel=CHANNEL, settle=0)

    def finished(messages: list[Message]) -> Message | None:
        for message in messages[seen:]:
            first = message.text.split("\n", 1)[0]
            if "`restore`" in first and ("succeeded" in first or "failed" in first):
                return message
        return None

    done: Message = driver.wait_for(CHANNEL, finished, timeout=1200, as_user="*", interval=0.1)
    took = time.monotonic() - started
    assert "succeeded" in done.text.split("\n", 1)[0], done.text
    return took


def measure(db_mb: int, rounds: int, lab_dir: Path) -> tuple[list[float], list[float]]:
    lab = LabPaths(lab_dir.absolute())
    print(f"starting a lab with about {db_mb} MB in etcd (loading takes a while) …", flush=True)
    start_lab(lab, db_mb=db_mb, etcd_flavor="3.5")
    base: list[float] = []
    ours: list[float] = []
    try:
        wait_ready(lab, 600)
        config = SlackConfig()
        with LocalSlackThread(config) as slack:
            plan = DemoPlan(lab, f"sqlite:///{lab.root / 'etcdops.db'}")
            with EtcdopsProcess(demo_settings(config, slack.url, plan)):
                driver = SlackDriver(slack.url)
                number, folder = take_backup(driver)
                print(f"backup #{number} in {folder}", flush=True)
                for round_no in range(rounds):
                    order = ("baseline", "etcdops") if round_no % 2 == 0 else ("etcdops", "baseline")
                    for who in order:
                        break_cluster(lab)
                        took = baseline(lab, folder) if who == "baseline" else with_etcdops(driver, number)
                        (base if who == "baseline" else ours).append(took)
                        print(f"  round {round_no + 1} {who:8} {took:6.2f} s", flush=True)
    finally:
        stop_lab(lab)
    return base, ours


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.restore", description=__doc__)
    parser.add_argument("--db-mb", type=int, default=512, help="about this many MB in the lab's etcd")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=Path(".lab-bench"), help="the lab's folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    base, ours = measure(args.db_mb, args.rounds, args.dir)
    b, o = statistics.median(base), statistics.median(ours)
    print(f"\nrestore of a {args.db_mb} MB lab etcd, last approval → 3 of 3 healthy, median seconds")
    print(f"  plain script (restore_baseline.sh): {b:6.2f} s   (all: {', '.join(f'{x:.2f}' for x in base)})")
    print(f"  /etcd restore (etcdops):            {o:6.2f} s   (all: {', '.join(f'{x:.2f}' for x in ours)})")
    print(f"etcdops / plain script = {o / b:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
