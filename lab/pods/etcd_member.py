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
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path("/var/lib/etcd")
# Written when this host bootstrapped the lab's cluster (kept outside the data dir, which replacements
# and restores move aside): a first-revision pod restarting later must join, never bootstrap again.
BOOTSTRAPPED = Path("/var/lib/etcd-lab-bootstrapped")
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


@dataclass(frozen=True)
class Start:
    """Become etcd with these extra flags (none: from the data dir)."""

    flags: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class Wait:
    why: str


@dataclass(frozen=True)
class Refuse:
    why: str


def decide(
    *,
    has_data: bool,
    bootstrap_cluster: str,
    bootstrapped: bool,
    members: list[dict[str, object]] | None,
    name: str,
    peer_url: str,
) -> Start | Wait | Refuse:
    """How this member starts, from what it sees: its data dir, whether this host bootstrapped the
    cluster before, and the cluster's member list (None when no member answers). Pure.

    - data: start from it;
    - a brand-new lab (the first revision names the initial cluster) that this host has not
      bootstrapped yet: bootstrap it. Once it has, a second cluster must never be made — the first
      revision's pod restarting after a replacement moved its data aside, the moment before the
      kubelet stops it, joins or refuses like any other;
    - listed, and it ran before (it has a name): its data is lost, and only removing the member and
      adding it again brings it back (``discover-etcd-initial-cluster`` refuses the same way). Starting
      empty would panic, or leave half-made data for the next revision to start from;
    - listed and never started (added by ``member add``): join with ``--initial-cluster-state existing``;
    - otherwise wait for the operator to add it.
    """
    if has_data:
        return Start((), f"starting member {name} from its data in {DATA_DIR}")
    if bootstrap_cluster and not bootstrapped:
        return Start(
            (f"--initial-cluster={bootstrap_cluster}", "--initial-cluster-state=new"),
            f"bootstrapping a new cluster: {bootstrap_cluster}",
        )
    me = find_self(members or [], peer_url)
    if members is None or me is None:
        return Wait(f"waiting for {peer_url} to be added to the etcd cluster")
    if me.get("name"):
        return Refuse(f"member {name} has run before but {DATA_DIR} is empty: remove it and add it again")
    cluster = existing_cluster(members, name, peer_url)
    return Start(
        (f"--initial-cluster={cluster}", "--initial-cluster-state=existing"),
        f"member {peer_url} was added; joining with --initial-cluster={cluster}",
    )


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

    while True:
        has_data = (DATA_DIR / "member").exists()
        bootstrapped = BOOTSTRAPPED.exists()
        must_ask = not has_data and (bootstrapped or not args.bootstrap_cluster)
        step = decide(
            has_data=has_data,
            bootstrap_cluster=args.bootstrap_cluster,
            bootstrapped=bootstrapped,
            members=member_list(args.etcdctl, args.endpoints) if must_ask else None,
            name=args.name,
            peer_url=args.peer_url,
        )
        _say(step.why)
        if isinstance(step, Start):
            if "--initial-cluster-state=new" in step.flags:
                BOOTSTRAPPED.touch()
            os.execv(args.etcd, [*base, *step.flags])
        if isinstance(step, Refuse):
            sys.exit(1)
        time.sleep(WAIT_INTERVAL)


if __name__ == "__main__":
    main()
