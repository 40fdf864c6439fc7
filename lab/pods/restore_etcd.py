"""The restore-etcd pod of cluster-restore.sh: restore the snapshot as a one-member cluster, then run it.

Follows OpenShift 4.4's pod: refuse a non-empty data dir, restore
``/var/lib/etcd-backup/snapshot.db`` (which checks the snapshot's SHA-256) with a fresh cluster token,
move the restored member into place, delete the copied snapshot, and become etcd.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

DATA_DIR = Path("/var/lib/etcd")
SNAPSHOT = Path("/var/lib/etcd-backup/snapshot.db")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="restore_etcd")
    parser.add_argument("--etcd", required=True)
    parser.add_argument("--etcdutl", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--peer-url", required=True)
    parser.add_argument("etcd_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    etcd = [
        args.etcd,
        f"--name={args.name}",
        f"--data-dir={DATA_DIR}",
        *[a for a in args.etcd_args if a != "--"],
    ]
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    if (DATA_DIR / "member").exists() and not SNAPSHOT.exists():
        print("data dir already restored; starting etcd", flush=True)
        os.execv(args.etcd, etcd)
    if not SNAPSHOT.exists():
        print(f"Snapshot file not found, restore failed: {SNAPSHOT}.", flush=True)
        sys.exit(1)
    if any(DATA_DIR.iterdir()):
        print(
            "please delete the contents of data directory before restoring, running the restore script will "
            "do this for you",
            flush=True,
        )
        sys.exit(1)
    token = uuid.uuid4()
    target = DATA_DIR / f"restore-{token}"
    print("restoring to a single node cluster", flush=True)
    subprocess.run(
        [
            args.etcdutl,
            "snapshot",
            "restore",
            str(SNAPSHOT),
            f"--name={args.name}",
            f"--initial-cluster={args.name}={args.peer_url}",
            f"--initial-cluster-token=openshift-etcd-{token}",
            f"--initial-advertise-peer-urls={args.peer_url}",
            f"--data-dir={target}",
        ],
        check=True,
    )
    for entry in target.iterdir():
        shutil.move(str(entry), DATA_DIR / entry.name)
    target.rmdir()
    SNAPSHOT.unlink()
    os.execv(args.etcd, etcd)


if __name__ == "__main__":
    main()
