"""Powering lab hosts on and off: each host is a host agent in its own PID, mount and UTS namespaces.

Powering off kills the namespace's PID 1 with SIGKILL, which takes every process of the host with it
(etcd, sshd, its sessions) at once, like pulling a VM's plug. A host that dies while powered on is
started again, as a cloud provider restarts a crashed instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from lab.manifests import Runtime
from lab.paths import LabPaths
from lab.runtime import paths_to_keep_visible
from lab.topology import HostSpec

log = logging.getLogger(__name__)

RESTART_DELAY = 2.0


def host_command(paths: LabPaths, runtime: Runtime, host: HostSpec) -> list[str]:
    keep = [arg for path in paths_to_keep_visible(paths.root, runtime) for arg in ("--keep", str(path))]
    return [
        "unshare",
        "--pid",
        "--fork",
        "--kill-child=SIGKILL",
        "--mount",
        "--uts",
        "--mount-proc",
        "--propagation",
        "private",
        "--",
        runtime.python,
        "-m",
        "lab.hostagent",
        "--lab-dir",
        str(paths.root),
        "--host",
        host.name,
        "--ip",
        host.ip,
        "--node",
        host.node,
        *keep,
    ]


@dataclass
class HostProcess:
    spec: HostSpec
    process: asyncio.subprocess.Process | None = None
    wanted: bool = False
    started_count: int = 0
    watcher: asyncio.Task[None] | None = field(default=None, repr=False)


class HostManager:
    def __init__(self, paths: LabPaths, runtime: Runtime) -> None:
        self.paths = paths
        self.runtime = runtime
        self.hosts: dict[str, HostProcess] = {}

    def is_running(self, name: str) -> bool:
        h = self.hosts.get(name)
        return bool(h and h.process and h.process.returncode is None)

    async def power_on(self, spec: HostSpec) -> None:
        h = self.hosts.setdefault(spec.name, HostProcess(spec))
        h.wanted = True
        if not self.is_running(spec.name):
            await self._start(h)
        if h.watcher is None or h.watcher.done():
            h.watcher = asyncio.create_task(self._watch(h))

    async def _start(self, h: HostProcess) -> None:
        log_file = self.paths.host(h.spec.name).agent_log.open("ab")
        h.process = await asyncio.create_subprocess_exec(
            *host_command(self.paths, self.runtime, h.spec),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        log_file.close()
        h.started_count += 1
        log.info("powered on %s (%s) pid %s", h.spec.name, h.spec.ip, h.process.pid)

    async def _watch(self, h: HostProcess) -> None:
        while h.wanted:
            if h.process is not None:
                code = await h.process.wait()
                if not h.wanted:
                    return
                log.warning("host %s exited with %s; starting it again", h.spec.name, code)
            await asyncio.sleep(RESTART_DELAY)
            if h.wanted:
                await self._start(h)

    async def power_off(self, name: str) -> None:
        h = self.hosts.get(name)
        if h is None:
            return
        h.wanted = False
        if h.process is not None and h.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                h.process.kill()
            await h.process.wait()
            log.info("powered off %s", name)
        if h.watcher is not None:
            h.watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await h.watcher

    async def forget(self, name: str) -> None:
        await self.power_off(name)
        self.hosts.pop(name, None)

    async def power_off_all(self) -> None:
        await asyncio.gather(*(self.power_off(name) for name in list(self.hosts)))
