"""Ack latency of ``/etcd status``: the whole etcdops process against a bare Bolt app, in the same run.

A burst of ``/etcd status`` commands is typed concurrently into the local Slack (in this process), over
Socket Mode and over signed HTTP. Each app runs in its own process, as it would be deployed: etcdops as
``etcdops serve`` (Bolt app, runner and relay, SQLite), the baseline as ``python -m bench.bare_bolt``,
whose ``/etcd`` listener only calls ``ack()``. The local Slack measures each ack (from sending the
envelope or POST to receiving the ack); the ratio of the two p99s is what the target is about: etcdops'
ack p99 within 3x the bare app's.

Every burst is preceded by a warm-up, rounds alternate which app goes first, and only one app is
connected to the local Slack at a time. The status runs a burst records execute in etcdops' runner while
the burst is acked (they report the cluster's API unreachable: it is a dead port); after the warm-up and
after the burst the runner is left to finish them, so each burst starts on a quiet machine. The exit
code is 0 whether or not the target holds: this is a measurement.

    uv run python -m bench.ack_latency [--burst 200] [--concurrency 20] [--rounds 2] [--warmup 20]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from lab.slack import CommandResult, LocalSlackThread, SlackConfig, SlackDriver
from lab.slack.config import ChannelSpec
from lab.unreachable import CHANNEL, write_clusters_file
from storage import runs
from storage.db import make_engine, make_session_factory

MODES = ("socket", "http")
APPS = ("bare", "etcdops")
TARGET_RATIO = 3.0
USER = "alice"
CLUSTER = "lab"  # the default cluster of #etcd-lab in lab/unreachable.py

EXPECTED_REPLY = f"Checking etcd on *{CLUSTER}*"
DRAIN_TIMEOUT = 90.0
CONNECT_TIMEOUT = 10.0
SLOW_MS = 1000.0

log = logging.getLogger("bench.ack_latency")


# --- what a burst measured ---------------------------------------------------------------------------


@dataclass
class Tally:
    """Acks of one (mode, app) pair, pooled over the rounds."""

    latencies_ms: list[float] = field(default_factory=list)
    not_acked: int = 0
    wrong_reply: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0  # wall time of the bursts

    @property
    def slow(self) -> int:
        """Acks that took a second or more: a third of Slack's 3 s, and a dropped SYN's retransmission."""
        return sum(1 for ms in self.latencies_ms if ms >= SLOW_MS)

    @property
    def sent(self) -> int:
        return len(self.latencies_ms) + self.not_acked

    def add(self, other: Tally) -> None:
        self.latencies_ms.extend(other.latencies_ms)
        self.not_acked += other.not_acked
        self.wrong_reply += other.wrong_reply
        self.seconds += other.seconds
        for error, count in other.errors.items():
            self.errors[error] = self.errors.get(error, 0) + count


def percentile(values: Sequence[float], pct: int) -> float:
    """The ``pct``-th percentile (1..99), interpolated between the closest ranks."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def reply_ok(app: str, result: CommandResult) -> bool:
    """Did the app answer what it should? The bare app acks empty; etcdops says the run is recorded."""
    text = str((result.ack_payload or {}).get("text", ""))
    if app == "bare":
        return not text
    return EXPECTED_REPLY in text


def burst(driver: SlackDriver, app: str, count: int, concurrency: int) -> Tally:
    """Type ``/etcd status`` ``count`` times from ``concurrency`` threads at once."""
    tally = Tally()

    def one(_: int) -> CommandResult | str:
        try:
            return driver.slash(USER, CHANNEL, "/etcd", "status", settle=0)
        except Exception as exc:  # a driver timeout is a command Slack never saw acked
            return f"driver: {type(exc).__name__}"

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench-user") as pool:
        outcomes = list(pool.map(one, range(count)))
    tally.seconds = time.perf_counter() - started
    for outcome in outcomes:
        if isinstance(outcome, str) or not outcome.acked or outcome.ack_latency_ms is None:
            error = outcome if isinstance(outcome, str) else (outcome.error or "not acked")
            tally.not_acked += 1
            tally.errors[error] = tally.errors.get(error, 0) + 1
            continue
        tally.latencies_ms.append(outcome.ack_latency_ms)
        if not reply_ok(app, outcome):
            tally.wrong_reply += 1
    return tally


# --- the two apps ----------------------------------------------------------------------------------


def wait_connections(driver: SlackDriver, count: int) -> None:
    """Wait until exactly ``count`` Socket Mode connections are open at the local Slack."""
    deadline = time.monotonic() + CONNECT_TIMEOUT
    while len(driver.connections()) != count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"expected {count} Socket Mode connection(s), have {driver.connections()}")
        time.sleep(0.02)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_http(port: int, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + CONNECT_TIMEOUT * 3
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited ({process.returncode}) before answering on port {port}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return f"http://127.0.0.1:{port}/slack/events"
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing answers on port {port}") from None
            time.sleep(0.05)


@contextlib.contextmanager
def serve(argv: list[str], env: dict[str, str], driver: SlackDriver, mode: str) -> Iterator[None]:
    """Run one app in its own process (as it would be deployed) and point the local Slack at it."""
    driver.set_request_url(None)
    wait_connections(driver, 0)
    port = _free_port()
    extra = ["--http", "--port", str(port)] if mode == "http" else []
    process = subprocess.Popen([sys.executable, "-m", *argv, *extra], env=env, stderr=subprocess.DEVNULL)
    try:
        if mode == "socket":
            deadline = time.monotonic() + CONNECT_TIMEOUT * 3
            while len(driver.connections()) != 1:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{argv} did not connect over Socket Mode")
                time.sleep(0.05)
        else:
            driver.set_request_url(_wait_http(port, process))
        yield
    finally:
        driver.set_request_url(None)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def drain(database_url: str) -> float:
    """Wait for etcdops' runner to finish the recorded status runs; how long that took."""
    engine = make_engine(database_url)
    started = time.monotonic()
    try:
        while True:
            with make_session_factory(engine)() as session:
                active = len(runs.active_runs(session=session, cluster=CLUSTER))
            if not active:
                return time.monotonic() - started
            if time.monotonic() - started > DRAIN_TIMEOUT:
                log.warning("%d runs still active after %.0f s; stopping anyway", active, DRAIN_TIMEOUT)
                return time.monotonic() - started
            time.sleep(0.1)
    finally:
        engine.dispose()


# --- the etcdops settings --------------------------------------------------------------------------


def app_env(slack: LocalSlackThread, config: SlackConfig, folder: Path) -> dict[str, str]:
    """The environment both apps start with: the local Slack's tokens, and etcdops' database and
    clusters file (the bare app ignores those)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ETCDOPS_", "DATABASE_"))}
    env.update(
        SLACK_BOT_TOKEN=config.bot_token,
        SLACK_APP_TOKEN=config.app_token,
        SLACK_SIGNING_SECRET=config.signing_secret,
        SLACK_API_URL=f"{slack.url}/api/",
        DATABASE_URL=f"sqlite:///{folder / 'etcdops.db'}",
        ETCDOPS_CLUSTERS=str(write_clusters_file(folder)),
        ETCDOPS_WORKER="bench-worker",
    )
    return env


# --- the run ---------------------------------------------------------------------------------------


@dataclass
class Options:
    burst: int
    concurrency: int
    rounds: int
    warmup: int


APP_ARGV = {"bare": ["bench.bare_bolt"], "etcdops": ["bot.cli", "serve"]}


def measure(slack: LocalSlackThread, env: dict[str, str], opts: Options) -> dict[tuple[str, str], Tally]:
    driver = SlackDriver(slack.url)
    tallies = {(mode, app): Tally() for mode in MODES for app in APPS}
    for mode in MODES:
        for round_no in range(opts.rounds):
            order = APPS if round_no % 2 == 0 else APPS[::-1]
            for app in order:
                drained = ""
                with serve(APP_ARGV[app], env, driver, mode):
                    if opts.warmup:
                        burst(driver, app, opts.warmup, opts.concurrency)
                        if app == "etcdops":
                            drain(env["DATABASE_URL"])  # the burst starts with no warm-up run left
                    tally = burst(driver, app, opts.burst, opts.concurrency)
                    if app == "etcdops":
                        drained = f", runs done {drain(env['DATABASE_URL']):.1f} s later"
                tallies[mode, app].add(tally)
                print(
                    f"  {mode:<6} round {round_no + 1} {app:<8} n={len(tally.latencies_ms):<4} "
                    f"p50 {percentile(tally.latencies_ms, 50):7.1f} ms  "
                    f"p99 {percentile(tally.latencies_ms, 99):7.1f} ms  "
                    f"burst {tally.seconds:.2f} s{drained}",
                    flush=True,
                )
    return tallies


def report(tallies: dict[tuple[str, str], Tally], opts: Options) -> None:
    print()
    print(
        f"ack latency of /etcd status, {opts.rounds} burst(s) of {opts.burst} per app and mode, "
        f"{opts.concurrency} at a time"
    )
    header = (
        f"{'mode':<7}{'app':<9}{'n':>5}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'>=1s':>6}"
        f"{'not acked':>11}{'wrong reply':>13}{'cmd/s':>8}"
    )
    print(header)
    print("-" * len(header))
    for (mode, app), tally in tallies.items():
        lat = tally.latencies_ms
        print(
            f"{mode:<7}{app:<9}{tally.sent:>5}{percentile(lat, 50):>9.1f}{percentile(lat, 99):>9.1f}"
            f"{max(lat, default=float('nan')):>9.1f}{tally.slow:>6}{tally.not_acked:>11}"
            f"{tally.wrong_reply:>13}{tally.sent / tally.seconds if tally.seconds else 0:>8.0f}"
        )
        for error, count in sorted(tally.errors.items()):
            print(f"{'':<16}not acked: {error} x{count}")
    print()
    held = True
    for mode in MODES:
        bare, etcdops = tallies[mode, "bare"], tallies[mode, "etcdops"]
        ratio = percentile(etcdops.latencies_ms, 99) / percentile(bare.latencies_ms, 99)
        ok = ratio <= TARGET_RATIO and not etcdops.not_acked and not etcdops.wrong_reply
        held = held and ok
        print(
            f"{mode:<7}etcdops p99 / bare p99 = {ratio:.2f}x  "
            f"({'within' if ok else 'MISSES'} the {TARGET_RATIO:g}x target"
            f"{'' if not (etcdops.not_acked or etcdops.wrong_reply) else '; some commands failed'})"
        )
    print(f"target (ack p99 within {TARGET_RATIO:g}x the bare Bolt app, every command acked): ", end="")
    print("MET" if held else "NOT MET")


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.ack_latency", description=__doc__.split("\n")[0])
    parser.add_argument("--burst", type=int, default=200, help="commands per burst (default 200)")
    parser.add_argument("--concurrency", type=int, default=20, help="commands in flight (default 20)")
    parser.add_argument("--rounds", type=int, default=2, help="bursts per app and mode (default 2)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured commands first (default 20)")
    args = parser.parse_args(argv)
    for name in ("burst", "concurrency", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must be 0 or more")
    return Options(args.burst, args.concurrency, args.rounds, args.warmup)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Each status run retries the dead API a few times: expected, and not what is measured here.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    config = SlackConfig(channels=(ChannelSpec("C0ETCDLAB", "etcd-lab"), ChannelSpec("C0PROD", "prod")))
    with tempfile.TemporaryDirectory(prefix="etcdops-bench-") as folder, LocalSlackThread(config) as slack:
        env = app_env(slack, config, Path(folder))
        started = time.monotonic()
        tallies = measure(slack, env, opts)
        report(tallies, opts)
        print(f"(measured in {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
