"""The lab kubelet: runs the static pods whose manifests are in the host's manifests folder.

It does what the seed relies on a kubelet for: a manifest moved out of /etc/kubernetes/manifests stops
its pod, one moved in (or changed) starts it, a container that exits is restarted with a growing
back-off (so a broken etcd member shows ``Error`` and ``CrashLoopBackOff`` with rising restarts), and
HTTP readiness probes decide READY. Containers are plain processes of this host's namespaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import secrets
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from lab.hostagent.podspec import ContainerSpec, StaticPod, read_manifests
from lab.hostagent.processes import ProcessTable

log = logging.getLogger(__name__)

SYNC_INTERVAL = 0.5
PROBE_INTERVAL = 1.0
BACKOFF_START = 1.0
BACKOFF_MAX = 10.0
BACKOFF_RESET_AFTER = 10.0
ERROR_SHOWN_FOR = 1.0
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stamp(t: dt.datetime | None) -> str | None:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t else None


def container_env(spec: ContainerSpec) -> dict[str, str]:
    """The environment a container (and an exec into it) sees: its own variables over a plain PATH."""
    env = {"PATH": DEFAULT_PATH, "HOME": "/root"}
    env.update(dict(spec.env))
    return env


@dataclass
class Container:
    """One container's life: the current process, its restarts and what a status report shows."""

    spec: ContainerSpec
    log_path: Path
    container_id: str = field(default_factory=lambda: secrets.token_hex(32))
    process: asyncio.subprocess.Process | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    exit_code: int | None = None
    restart_count: int = 0
    waiting_until: dt.datetime | None = None
    ready: bool = False
    last_terminated: dict[str, Any] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def state(self) -> dict[str, Any]:
        if self.running:
            return {"running": {"startedAt": _stamp(self.started_at)}}
        now = _now()
        if self.finished_at and (now - self.finished_at).total_seconds() < ERROR_SHOWN_FOR:
            return {"terminated": self._terminated()}
        if self.waiting_until is not None:
            return {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off restarting failed container {self.spec.name}",
                }
            }
        return {"waiting": {"reason": "ContainerCreating"}}

    def _terminated(self) -> dict[str, Any]:
        return {
            "exitCode": self.exit_code,
            "reason": "Completed" if self.exit_code == 0 else "Error",
            "startedAt": _stamp(self.started_at),
            "finishedAt": _stamp(self.finished_at),
            "containerID": f"cri-o://{self.container_id}",
        }

    def status(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "name": self.spec.name,
            "image": self.spec.image,
            "imageID": self.spec.image,
            "containerID": f"cri-o://{self.container_id}",
            "ready": self.running and (self.ready or self.spec.readiness is None),
            "started": self.running,
            "restartCount": self.restart_count,
            "state": self.state(),
        }
        if self.last_terminated:
            report["lastState"] = {"terminated": self.last_terminated}
        return report


@dataclass
class PodRuntime:
    pod: StaticPod
    uid: str
    created_at: dt.datetime
    containers: list[Container]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stopping: bool = False


class Kubelet:
    """Keeps the running pods equal to the manifests folder, and reports them.

    ``node_name`` and ``host_ip`` go into each pod's status like a real kubelet's; ``log_dir`` (outside
    the host's private paths) keeps each container's output for the lab's operators to read.
    """

    def __init__(
        self, node_name: str, host_ip: str, manifests_dir: Path, log_dir: Path, processes: ProcessTable
    ) -> None:
        self.node_name = node_name
        self.processes = processes
        self.host_ip = host_ip
        self.manifests_dir = manifests_dir
        self.log_dir = log_dir
        self.pods: dict[tuple[str, str], PodRuntime] = {}
        self.started_at = _now()
        self.manifest_errors: list[str] = []
        self._http: aiohttp.ClientSession | None = None
        self._wake = asyncio.Event()

    async def run(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.0))
        try:
            while True:
                await self.sync()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), SYNC_INTERVAL)
                self._wake.clear()
        finally:
            await self.stop_all()
            await self._http.close()

    def restart(self) -> None:
        """``systemctl restart kubelet``: the kubelet starts over and re-reads its manifests at once.

        Containers keep running across a kubelet restart (they belong to the container runtime).
        """
        self.started_at = _now()
        self._wake.set()

    async def sync(self) -> None:
        desired, errors = read_manifests(self.manifests_dir, self.host_ip)
        if errors != self.manifest_errors:
            for message in errors:
                log.warning("manifest not used: %s", message)
        self.manifest_errors = errors
        wanted = {p.key: p for p in desired}
        for key, runtime in list(self.pods.items()):
            if key not in wanted or wanted[key].digest != runtime.pod.digest:
                log.info("stopping pod %s/%s (%s)", *key, "removed" if key not in wanted else "changed")
                await self._stop_pod(runtime)
                del self.pods[key]
        for key, pod in wanted.items():
            if key not in self.pods:
                log.info("starting pod %s/%s from %s", *key, pod.file)
                self.pods[key] = self._start_pod(pod)

    def _start_pod(self, pod: StaticPod) -> PodRuntime:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        containers = [
            Container(spec=c, log_path=self.log_dir / f"{pod.namespace}_{pod.name}_{c.name}.log")
            for c in pod.containers
        ]
        runtime = PodRuntime(pod=pod, uid=secrets.token_hex(16), created_at=_now(), containers=containers)
        for c in containers:
            runtime.tasks.append(asyncio.create_task(self._keep_running(runtime, c)))
            if c.spec.readiness:
                runtime.tasks.append(asyncio.create_task(self._probe(runtime, c)))
        return runtime

    async def _keep_running(self, runtime: PodRuntime, c: Container) -> None:
        backoff = BACKOFF_START
        while not runtime.stopping:
            c.waiting_until = None
            c.started_at, c.finished_at, c.exit_code = _now(), None, None
            with c.log_path.open("ab") as out:
                try:
                    c.process = await self.processes.spawn(
                        *c.spec.argv,
                        env=container_env(c.spec),
                        cwd=c.spec.working_dir,
                        stdin=asyncio.subprocess.DEVNULL,
                        stdout=out,
                        stderr=asyncio.subprocess.STDOUT,
                        start_new_session=True,
                    )
                except OSError as exc:
                    out.write(f"failed to start {c.spec.argv[0]}: {exc}\n".encode())
                    c.process = None
                    c.exit_code = 128
                if c.process is not None:
                    c.exit_code = await c.process.wait()
            c.finished_at = _now()
            c.ready = False
            if runtime.stopping:
                return
            ran_for = (c.finished_at - (c.started_at or c.finished_at)).total_seconds()
            if ran_for > BACKOFF_RESET_AFTER:
                backoff = BACKOFF_START
            c.last_terminated = c._terminated()
            log.info("container %s/%s exited with %s", runtime.pod.name, c.spec.name, c.exit_code)
            c.waiting_until = c.finished_at + dt.timedelta(seconds=backoff)
            await asyncio.sleep(backoff)
            if runtime.stopping:
                return
            c.restart_count += 1
            c.container_id = secrets.token_hex(32)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _probe(self, runtime: PodRuntime, c: Container) -> None:
        probe = c.spec.readiness
        assert probe is not None
        url = f"http://{probe.host}:{probe.port}{probe.path}"
        failures = 0
        while not runtime.stopping:
            ok = False
            if c.running and self._http is not None:
                try:
                    async with self._http.get(url) as resp:
                        ok = resp.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
            failures = 0 if ok else failures + 1
            if ok:
                c.ready = True
            elif not c.running or failures >= probe.failure_threshold:
                c.ready = False  # like kubelet: unready after failureThreshold failures in a row
            await asyncio.sleep(PROBE_INTERVAL)

    async def _stop_pod(self, runtime: PodRuntime) -> None:
        runtime.stopping = True
        for c in runtime.containers:
            if c.running and c.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(c.process.pid, signal.SIGTERM)
        deadline = asyncio.get_running_loop().time() + runtime.pod.termination_grace
        for c in runtime.containers:
            if c.process is None:
                continue
            remaining = max(0.0, deadline - asyncio.get_running_loop().time())
            try:
                await asyncio.wait_for(c.process.wait(), remaining)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(c.process.pid, signal.SIGKILL)
                await c.process.wait()
        for task in runtime.tasks:
            task.cancel()
        await asyncio.gather(*runtime.tasks, return_exceptions=True)

    async def stop_all(self) -> None:
        for runtime in list(self.pods.values()):
            await self._stop_pod(runtime)
        self.pods.clear()

    def find_container(self, namespace: str, pod_name: str, container: str | None) -> Container | None:
        """The container an exec targets; ``pod_name`` may be the mirror name ``<name>-<node>``."""
        for runtime in self.pods.values():
            if runtime.pod.namespace != namespace:
                continue
            if pod_name not in (runtime.pod.name, f"{runtime.pod.name}-{self.node_name}"):
                continue
            if container is None:
                return runtime.containers[0]
            for c in runtime.containers:
                if c.spec.name == container:
                    return c
        return None

    def pod_reports(self) -> list[dict[str, Any]]:
        """Each pod as the Pod object a kubelet would mirror into the API."""
        return [self._pod_report(r) for r in self.pods.values()]

    def _pod_report(self, runtime: PodRuntime) -> dict[str, Any]:
        pod = runtime.pod
        statuses = [c.status() for c in runtime.containers]
        all_ready = all(s["ready"] for s in statuses)
        any_running = any(c.running for c in runtime.containers)
        meta = dict(pod.manifest.get("metadata") or {})
        annotations = dict(meta.get("annotations") or {})
        annotations.update(
            {
                "kubernetes.io/config.source": "file",
                "kubernetes.io/config.hash": pod.digest,
                "kubernetes.io/config.mirror": pod.digest,
            }
        )
        spec = dict(pod.manifest.get("spec") or {})
        spec["nodeName"] = self.node_name
        condition_ready = "True" if all_ready else "False"
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{pod.name}-{self.node_name}",
                "namespace": pod.namespace,
                "labels": meta.get("labels") or {},
                "annotations": annotations,
                "creationTimestamp": _stamp(runtime.created_at),
            },
            "spec": spec,
            "status": {
                "phase": "Running" if any_running or statuses else "Pending",
                "hostIP": self.host_ip,
                "podIP": self.host_ip,
                "podIPs": [{"ip": self.host_ip}],
                "startTime": _stamp(runtime.created_at),
                "conditions": [
                    {"type": "Initialized", "status": "True"},
                    {"type": "Ready", "status": condition_ready},
                    {"type": "ContainersReady", "status": condition_ready},
                    {"type": "PodScheduled", "status": "True"},
                ],
                "containerStatuses": statuses,
            },
        }

    def container_reports(self) -> list[dict[str, Any]]:
        """Running containers as ``crictl ps`` lists them."""
        rows = []
        for runtime in self.pods.values():
            for c in runtime.containers:
                if not c.running:
                    continue
                rows.append(
                    {
                        "id": c.container_id,
                        "image": c.spec.image,
                        "created": _stamp(c.started_at),
                        "state": "Running",
                        "name": c.spec.name,
                        "attempt": c.restart_count,
                        "podId": runtime.uid,
                        "podName": f"{runtime.pod.name}-{self.node_name}",
                        "podNamespace": runtime.pod.namespace,
                    }
                )
        return rows
