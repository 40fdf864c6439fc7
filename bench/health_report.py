"""Health report over many clusters: how the report's time grows from 1 to 10 to 50 cluster entries.

A clusters file lists the lab N times (``lab``, ``lab-2``, … ``lab-N``: each entry its own API client,
as separate clusters would have), and the scheduled report's own step — gather every cluster's facts
concurrently, judge each green/amber/red, render one Block Kit message — is timed for N = 1, 10 and 50,
in rounds of alternating order. The same run also times the 10 entries one after the other, the
baseline the concurrent gathering is measured against.

It prints each measurement, the medians, the ratio of 50 entries to 1 and the concurrency's speed-up.
All the entries share one lab, whose single API server process (on this 2-core machine) is then the
bottleneck: against 50 real clusters, each with its own API servers, the ratio would be lower. Needs
root (the lab). The exit code is 0: this is a measurement.

    uv run python -m bench.health_report [--rounds 3] [--dir .lab-bench]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from bot.settings import Settings
from bot.wiring import Wiring, wire
from lab.lifecycle import start_lab, stop_lab, wait_ready
from lab.paths import LabPaths
from runner.procedures.health import HealthGatherer, HealthProcedure
from runner.steps import StepContext

SIZES = (1, 10, 50)
SEQUENTIAL = 10


def clusters_file(lab: LabPaths, count: int, into: Path) -> Path:
    """The lab's clusters file with its one entry repeated ``count`` times under different names."""
    profile: dict[str, Any] = yaml.safe_load((lab.root / "cluster.yaml").read_text())
    entry = profile["clusters"][0]
    profile["clusters"] = [{**entry, "name": "lab" if i == 0 else f"lab-{i + 1}"} for i in range(count)]
    path = into / f"clusters-{count}.yaml"
    path.write_text(yaml.safe_dump(profile))
    return path


def report_once(wiring: Wiring) -> tuple[float, dict[str, str]]:
    """One report over every cluster of the wiring, as the scheduled run's step makes it."""
    procedure = wiring.procedures["health"]
    assert isinstance(procedure, HealthProcedure)
    context = StepContext(run_id="r-bench", cluster="all", params={"clusters": "all"})
    (step,) = procedure.steps(context)
    started = time.monotonic()
    result = step.execute(context)
    return time.monotonic() - started, dict(result["levels"])


def sequential_once(wiring: Wiring) -> float:
    """The baseline: the same clusters' reports gathered one after the other."""
    procedure = wiring.procedures["health"]
    assert isinstance(procedure, HealthProcedure)
    gatherer: HealthGatherer = procedure.gatherer
    started = time.monotonic()
    for cluster in wiring.clusters.clusters:
        gatherer(cluster.name)
    return time.monotonic() - started


def measure(lab: LabPaths, rounds: int) -> dict[str, list[float]]:
    folder = lab.root / "bench-health"
    folder.mkdir(exist_ok=True)
    wirings = {}
    for size in SIZES:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=f"sqlite:///{folder / 'etcdops.db'}",
            etcdops_clusters=clusters_file(lab, size, folder),
        )
        wirings[size] = wire(settings)
    times: dict[str, list[float]] = {f"{size} concurrent": [] for size in SIZES}
    times[f"{SEQUENTIAL} one by one"] = []
    try:
        for size in SIZES:  # warm up: first connections, imports
            report_once(wirings[size])
        for round_no in range(rounds):
            order = list(SIZES) if round_no % 2 == 0 else list(reversed(SIZES))
            for size in order:
                took, levels = report_once(wirings[size])
                assert len(levels) == size, levels
                times[f"{size} concurrent"].append(took)
                worst = sorted(set(levels.values()))
                print(
                    f"  round {round_no + 1}: {size:2} entries  {took:6.2f} s  ({', '.join(worst)})",
                    flush=True,
                )
            took = sequential_once(wirings[SEQUENTIAL])
            times[f"{SEQUENTIAL} one by one"].append(took)
            print(f"  round {round_no + 1}: {SEQUENTIAL:2} entries one by one  {took:6.2f} s", flush=True)
    finally:
        for wiring in wirings.values():
            wiring.close()
    return times


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.health_report", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path(".lab-bench"), help="the lab's folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    lab = LabPaths(args.dir.absolute())
    print("starting the lab …", flush=True)
    start_lab(lab, db_mb=0, etcd_flavor="3.5")
    try:
        wait_ready(lab, 600)
        times = measure(lab, args.rounds)
    finally:
        stop_lab(lab)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print("\nmedians:")
    for name, value in medians.items():
        print(f"  {name:18} {value:6.2f} s")
    one, fifty = medians["1 concurrent"], medians["50 concurrent"]
    ten, ten_serial = medians["10 concurrent"], medians[f"{SEQUENTIAL} one by one"]
    print(f"\n50 entries / 1 entry: {fifty / one:.1f}×  (one by one it would be about 50×)")
    print(f"10 entries one by one / concurrently: {ten_serial / ten:.1f}× faster concurrently")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
