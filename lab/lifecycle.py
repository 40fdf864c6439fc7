"""Starting and stopping a whole lab: prerequisites, leftovers of a crashed lab, readiness."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from lab.bootstrap import create_lab
from lab.hostagent.sshd import sshd_binary
from lab.paths import LabPaths
from lab.runtime import MissingDependency, detect_runtime
from lab.supervisor import CONTROL_URL

MOUNT_POINTS_CREATED = "created-mount-points"
OWN_MOUNT_POINTS = (Path("/etc/kubernetes"), Path("/home/core"))


def check_prerequisites() -> None:
    """Say exactly what is missing and how to install it, before anything is started."""
    problems = []
    if os.geteuid() != 0:
        problems.append("the lab needs root (mount namespaces, sshd on port 22): run it as root")
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        problems.append("unshare/mount are missing: apt-get install -y util-linux mount")
    if sshd_binary() is None:
        problems.append(
            "sshd is missing: apt-get install -y openssh-server (or run scripts/install-system-deps.sh)"
        )
    if problems:
        raise MissingDependency("; ".join(problems))
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount", "--uts", "--mount-proc", "true"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        raise MissingDependency(
            "this machine does not allow new PID/mount/UTS namespaces (unshare failed: "
            f"{probe.stderr.decode().strip()}); the lab needs root with CAP_SYS_ADMIN"
        )


def lab_processes(root: Path) -> list[int]:
    """PIDs of every process started for this lab folder (supervisor, host namespaces' init)."""
    marker = str(root).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            args = (entry / "cmdline").read_bytes().split(b"\0")
            if b"--lab-dir" in args and marker in args:
                pids.append(int(entry.name))
    return pids


def _supervisor_pid(paths: LabPaths) -> int | None:
    """The supervisor's PID if it is still running (a crashed one leaves a stale file)."""
    try:
        pid = int(paths.supervisor_pid.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid in lab_processes(paths.root) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")


def stop_lab(paths: LabPaths, timeout: float = 15.0) -> list[int]:
    """Stop the supervisor (it powers every host off), then kill whatever is left. Returns what was killed."""
    supervisor = _supervisor_pid(paths)
    if supervisor is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(supervisor, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(supervisor) and time.monotonic() < deadline:
            time.sleep(0.2)
    deadline = time.monotonic() + timeout
    leftovers = lab_processes(paths.root)
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    while lab_processes(paths.root) and time.monotonic() < deadline + 5:
        time.sleep(0.1)
    with contextlib.suppress(FileNotFoundError):
        paths.supervisor_pid.unlink()
    record = paths.root / MOUNT_POINTS_CREATED
    if record.exists():
        for line in record.read_text().splitlines():
            path = Path(line)
            with contextlib.suppress(OSError):
                if path.is_dir() and not any(path.iterdir()):
                    path.rmdir()
        record.unlink()
    return leftovers


class LabBusy(RuntimeError):
    """Another lab holds the lab's fixed addresses (127.0.0.10-.30): only one lab runs per machine."""


def start_lab(paths: LabPaths, *, db_mb: int, etcd_flavor: str) -> None:
    check_prerequisites()
    runtime = detect_runtime(etcd_flavor)
    other = read_status()
    if other is not None and other.get("lab_dir") != str(paths.root):
        raise LabBusy(
            f"another lab is running from {other.get('lab_dir')}; stop it first with: "
            f"etcdops lab down --dir {other.get('lab_dir')}"
        )
    stop_lab(paths)
    created = [p for p in OWN_MOUNT_POINTS if not p.exists()]
    create_lab(paths, runtime, etcd_flavor=etcd_flavor, db_mb=db_mb)
    for path in created:
        path.mkdir(parents=True, exist_ok=True)
    (paths.root / MOUNT_POINTS_CREATED).write_text("".join(f"{p}\n" for p in created))
    log = (paths.logs / "supervisor.log").open("ab")
    subprocess.Popen(
        [sys.executable, "-m", "lab.supervisor", "--lab-dir", str(paths.root)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()


def read_status(timeout: float = 3.0) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{CONTROL_URL}/status", timeout=timeout) as resp:
            status: dict[str, Any] = json.load(resp)
            return status
    except OSError:
        return None


def is_ready(status: dict[str, Any] | None) -> bool:
    if not status:
        return False
    hosts = [h for h in status["hosts"] if h["powered"]]
    return (
        bool(hosts)
        and all(h["etcd_healthy"] for h in hosts)
        and len(status["api"]["healthy_backends"]) == len(hosts)
        and bool(status["seeded"])
        and len(status.get("ready_nodes", [])) == len(hosts)
        and len(status.get("pods_ready_nodes", [])) == len(hosts)
    )


def wait_ready(paths: LabPaths, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = read_status()
        if status is not None and status.get("lab_dir") != str(paths.root):
            status = None
        if is_ready(status):
            assert status is not None
            return status
        time.sleep(0.3)
    raise TimeoutError(f"the lab was not ready within {timeout:.0f} s; last status: {json.dumps(status)}")
