"""Starting processes as the host's PID 1, and reaping the orphans a PID 1 inherits.

Processes started from SSH sessions (``nohup ... &``) are re-parented to the host agent when their
session ends. A PID 1 that never waits for them fills the process table with zombies, so the agent
reaps every exited child that it did not start itself, leaving its own children to asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any


class ProcessTable:
    def __init__(self) -> None:
        self._own: dict[int, asyncio.subprocess.Process] = {}

    async def spawn(self, *argv: str, **kwargs: Any) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(*argv, **kwargs)
        self._own[proc.pid] = proc
        return proc

    def reap_orphans(self) -> int:
        """Wait for every exited child that is not one of ours; returns how many were reaped."""
        for pid, proc in list(self._own.items()):
            if proc.returncode is not None:
                del self._own[pid]
        reaped = 0
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return reaped
            if info is None or info.si_pid in self._own:
                return reaped
            with contextlib.suppress(ChildProcessError):
                os.waitpid(info.si_pid, 0)
            reaped += 1

    async def reap_forever(self, interval: float = 2.0) -> None:
        while True:
            self.reap_orphans()
            await asyncio.sleep(interval)
