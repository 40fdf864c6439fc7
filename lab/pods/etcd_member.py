"""The etcd container's entry point: decide how this member starts, then become etcd.

OpenShift's etcd pod runs ``discover-etcd-initial-cluster`` first: a member with data starts from it;
a new member (empty data dir) waits until the operator has added it with ``member add`` and then
starts with ``--initial-cluster-state existing``. The first revision of a new cluster starts with
``new``. This program does the same, then replaces itself with etcd (``exec``), so the container's
process is etcd itself.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

DATA_DIR = Path("/var/lib/etcd")
WAIT_INTERVAL = 2.0


def _say(message: str) -> None:
    print(f"#### {message}", flush=True)


def find_self(members: list[dict[str, object]], peer_url: str) -> dict[str, object] | None:
    for member in members:
        urls = member.get("peerURLs") or []
        if isinstance(urls, list) and peer_url in urls:
            return member
    return None


def existing_cluster(members: list[dict[str, object]], name: str, peer_url: str) -> str:
    """``--initial-cluster`` for joining: every member by name, the unstarted one (us) by our name."""
    parts = []
    for member in members:
        urls = member.get("peerURLs") or []
        if not isinstance(urls, list):
            continue
        member_name = str(member.get("name") or "")
        for url in urls:
            parts.append(f"{name if url == peer_url else member_name}={url}")
    return ",".join(parts)


def member_list(etcdctl: str, endpoints: str) -> list[dict[str, object]] | None:
    try:
        # etcdctl refuses a flag that an ETCDCTL_* variable also sets, so the endpoints go in the env.
        out = subprocess.run(
            [etcdctl, "member", "list", "-w", "json", "--command-timeout=3s"],
            capture_output=True,
            check=True,
            timeout=10,
            env={**os.environ, "ETCDCTL_ENDPOINTS": endpoints},
        ).stdout
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return None
    members = json.loads(out).get("members") or []
    return list(members)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="etcd_member")
    parser.add_argument("--etcd", required=True)
    parser.add_argument("--etcdctl", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--peer-url", required=True)
    parser.add_argument("--bootstrap-cluster", default="", help="initial cluster of a brand-new cluster")
    parser.add_argument("--endpoints", required=True, help="other members' client URLs for discovery")
    parser.add_argument("etcd_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    etcd_args = [a for a in args.etcd_args if a != "--"]
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    base = [args.etcd, f"--name={args.name}", f"--data-dir={DATA_DIR}", *etcd_args]

    if (DATA_DIR / "member").exists():
        _say(f"starting member {args.name} from its data in {DATA_DIR}")
        os.execv(args.etcd, base)
    if args.bootstrap_cluster:
        _say(f"bootstrapping a new cluster: {args.bootstrap_cluster}")
        os.execv(
            args.etcd,
            [*base, f"--initial-cluster={args.bootstrap_cluster}", "--initial-cluster-state=new"],
        )
    while True:
        members = member_list(args.etcdctl, args.endpoints)
        me = find_self(members or [], args.peer_url)
        if members is not None and me is not None:
            cluster = existing_cluster(members, args.name, args.peer_url)
            _say(f"member {args.peer_url} was added; joining with --initial-cluster={cluster}")
            os.execv(args.etcd, [*base, f"--initial-cluster={cluster}", "--initial-cluster-state=existing"])
        _say(f"waiting for {args.peer_url} to be added to the etcd cluster")
        sys.stdout.flush()
        time.sleep(WAIT_INTERVAL)


if __name__ == "__main__":
    main()
