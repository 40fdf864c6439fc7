"""Backup overhead: ``/etcd backup`` end to end against what an administrator would type, same run, same lab.

On a lab whose etcd holds about ``--db-mb`` MB (512 by default), each round times both, in alternating
order, against the same master:

- **baseline**: ``ssh core@MASTER sudo cluster-backup.sh DIR`` then ``scp`` of both files, with OpenSSH;
- **etcdops**: alice types ``/etcd backup --host NODE`` into the local Slack; the clock stops when the
  run's message in the channel says it succeeded — preflight, snapshot, both files copied off over SSH
  with the snapshot's own SHA-256 checked, revision read, catalog entry written, relay shown.

It prints each round, the medians and their ratio (target: at most 1.15). Needs root (the lab). The exit
code is 0 whether or not the target holds: this is a measurement.

    uv run python -m bench.backup_overhead [--db-mb 512] [--rounds 3] [--dir .lab-bench]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.demo import CHANNEL, DemoPlan, demo_settings
from bot.process import EtcdopsProcess
from lab.lifecycle import start_lab, stop_lab, wait_ready
from lab.paths import LabPaths
from lab.slack import LocalSlackThread, Message, SlackConfig, SlackDriver

TARGET = 1.15
HOST = "127.0.0.12"
NODE = "ip-127-0-0-12.ec2.internal"
BASELINE_DIR = "/home/core/bench-baseline"


@dataclass(frozen=True)
class Options:
    db_mb: int
    rounds: int
    lab_dir: Path


def ssh_options(lab: LabPaths) -> list[str]:
    return [
        "-i",
        str(lab.ssh_key),
        "-o",
        f"UserKnownHostsFile={lab.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
    ]


def baseline(lab: LabPaths, into: Path, round_no: int) -> float:
    """What the seed's administrator does by hand, timed: the script over ssh, then scp of both files."""
    remote = f"{BASELINE_DIR}/{round_no}"
    into.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    subprocess.run(
        ["ssh", *ssh_options(lab), f"core@{HOST}", f"sudo /usr/local/bin/cluster-backup.sh {remote}"],
        check=True,
        capture_output=True,
    )
    subprocess.run(["scp", "-q", *ssh_options(lab), f"core@{HOST}:{remote}/*", str(into)], check=True)
    took = time.monotonic() - started
    copied = sorted(p.name.split("_")[0] for p in into.iterdir())
    assert copied == ["snapshot", "static"], f"the baseline copied {copied}"
    return took


def _finished(seen: int) -> object:
    def check(messages: list[Message]) -> Message | None:
        for message in messages[seen:]:
            first = message.text.split("\n", 1)[0]
            if (
                message.user == "U0BOT"
                and "`backup`" in first
                and ("succeeded" in first or "failed" in first)
            ):
                return message
        return None

    return check


def with_etcdops(driver: SlackDriver) -> float:
    """``/etcd backup --host NODE`` from the command to the run's message saying it succeeded."""
    seen = len(driver.transcript(CHANNEL, as_user="*"))
    started = time.monotonic()
    driver.slash("alice", CHANNEL, "/etcd", f"backup --host {NODE}", settle=0)
    message = driver.wait_for(CHANNEL, _finished(seen), timeout=600, as_user="*", interval=0.05)  # type: ignore[arg-type]
    took = time.monotonic() - started
    assert "succeeded" in message.text.split("\n", 1)[0], message.text
    return took


def clean(lab: LabPaths, scratch: Path) -> None:
    """Free the master's and this machine's disk between rounds (each round writes the DB four times)."""
    subprocess.run(
        ["ssh", *ssh_options(lab), f"core@{HOST}", f"sudo rm -rf {BASELINE_DIR} /home/core/etcdops-backups"],
        check=True,
    )
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.rmtree(lab.root / "backups" / "lab", ignore_errors=True)


def measure(opts: Options) -> tuple[list[float], list[float]]:
    lab = LabPaths(opts.lab_dir.absolute())
    print(f"starting a lab with about {opts.db_mb} MB in etcd (loading takes a while) …", flush=True)
    start_lab(lab, db_mb=opts.db_mb, etcd_flavor="3.5")
    base: list[float] = []
    ours: list[float] = []
    try:
        wait_ready(lab, 600)
        config = SlackConfig()
        with LocalSlackThread(config) as slack:
            plan = DemoPlan(lab, f"sqlite:///{lab.root / 'etcdops.db'}")
            with EtcdopsProcess(demo_settings(config, slack.url, plan)):
                driver = SlackDriver(slack.url)
                scratch = lab.root / "bench-scratch"
                for round_no in range(opts.rounds):
                    order = ("baseline", "etcdops") if round_no % 2 == 0 else ("etcdops", "baseline")
                    for who in order:
                        if who == "baseline":
                            took = baseline(lab, scratch / str(round_no), round_no)
                            base.append(took)
                        else:
                            took = with_etcdops(driver)
                            ours.append(took)
                        print(f"  round {round_no + 1} {who:8} {took:6.2f} s", flush=True)
                    clean(lab, scratch)
    finally:
        stop_lab(lab)
    return base, ours


def _seconds(values: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in values)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.backup_overhead", description=__doc__)
    parser.add_argument("--db-mb", type=int, default=512, help="about this many MB in the lab's etcd")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path(".lab-bench"), help="the lab's folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    base, ours = measure(Options(args.db_mb, args.rounds, args.dir))
    b, o = statistics.median(base), statistics.median(ours)
    print(f"\nbackup of a {args.db_mb} MB lab etcd, {args.rounds} rounds, median seconds")
    print(
        f"  ssh cluster-backup.sh + scp (OpenSSH): {b:6.2f} s   (all: {', '.join(f'{x:.2f}' for x in base)})"
    )
    print(
        f"  /etcd backup end to end (etcdops):     {o:6.2f} s   (all: {', '.join(f'{x:.2f}' for x in ours)})"
    )
    ratio = o / b
    verdict = "within" if ratio <= TARGET else "MISSES"
    print(f"etcdops / baseline = {ratio:.2f}x  ({verdict} the {TARGET}x target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
