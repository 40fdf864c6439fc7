"""``crictl`` for a lab host: lists the running containers of this host's kubelet.

Supports what the seed and OpenShift's scripts use: ``crictl ps`` (``-a``, ``-q``, ``--name RE``,
``--label io.kubernetes.container.name=NAME``, ``-o json``) and ``crictl pods``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import urllib.request
from typing import Any

KUBELET_URL_ENV = "LAB_KUBELET_URL"


def humanize(created: str, now: dt.datetime) -> str:
    """crictl's CREATED column ("About a minute ago", "5 seconds ago")."""
    then = dt.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    seconds = int((now - then).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 1)} seconds ago"
    if seconds < 120:
        return "About a minute ago"
    if seconds < 3600:
        return f"{seconds // 60} minutes ago"
    if seconds < 7200:
        return "About an hour ago"
    return f"{seconds // 3600} hours ago"


def select(containers: list[dict[str, Any]], name: str | None, labels: list[str]) -> list[dict[str, Any]]:
    chosen = []
    for c in containers:
        if name and not re.search(name, c["name"]):
            continue
        wanted = dict(label.split("=", 1) for label in labels if "=" in label)
        actual = {
            "io.kubernetes.container.name": c["name"],
            "io.kubernetes.pod.name": c["podName"],
            "io.kubernetes.pod.namespace": c["podNamespace"],
        }
        if any(actual.get(k) != v for k, v in wanted.items()):
            continue
        chosen.append(c)
    return chosen


def render_ps(containers: list[dict[str, Any]], now: dt.datetime) -> str:
    header = ["CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD"]
    rows = [
        [
            c["id"][:13],
            c["image"].rsplit(":", 1)[-1][:13] or c["image"],
            humanize(c["created"], now),
            c["state"],
            c["name"],
            str(c["attempt"]),
            c["podId"][:13],
            c["podName"],
        ]
        for c in containers
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crictl")
    sub = parser.add_subparsers(dest="command", required=True)
    ps = sub.add_parser("ps", help="list containers")
    ps.add_argument("-a", "--all", action="store_true")
    ps.add_argument("-q", "--quiet", action="store_true")
    ps.add_argument("--name")
    ps.add_argument("--label", action="append", default=[])
    ps.add_argument("-o", "--output", choices=["table", "json"], default="table")
    sub.add_parser("pods", help="list pods")
    args = parser.parse_args(argv)
    url = os.environ.get(KUBELET_URL_ENV, "")
    try:
        with urllib.request.urlopen(f"{url}/containers", timeout=5) as resp:
            containers = json.load(resp)["containers"]
    except OSError as exc:
        print(f"crictl: cannot reach the kubelet's container runtime at {url}: {exc}", file=sys.stderr)
        return 1
    if args.command == "pods":
        pods = sorted({(c["podId"][:13], c["podName"], c["podNamespace"]) for c in containers})
        print("POD ID          NAME   NAMESPACE")
        for pod_id, name, ns in pods:
            print(f"{pod_id}   {name}   {ns}")
        return 0
    chosen = select(containers, args.name, args.label)
    if args.quiet:
        print("\n".join(c["id"] for c in chosen))
    elif args.output == "json":
        print(json.dumps({"containers": chosen}, indent=2))
    else:
        print(render_ps(chosen, dt.datetime.now(dt.UTC)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
