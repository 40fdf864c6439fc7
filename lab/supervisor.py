"""The lab supervisor: the one long-running process behind ``etcdops lab up``.

It plays the cloud provider (powers hosts on and off), the API load balancer, and OpenShift's
operators (the controllers), and answers the ``etcdops lab`` CLI on a small control API. Its record of
hosts (``state.json``) is independent of etcd, so it keeps working while the cluster has lost quorum.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from lab.controllers.access import ClusterAccess
from lab.credentials import Credentials
from lab.hosts import HostManager
from lab.kube.store import Store
from lab.lb import ApiLoadBalancer
from lab.paths import LabPaths
from lab.runtime import detect_runtime
from lab.state import LabState
from lab.topology import API_ADDRESS, API_PORT, ETCD_METRICS_PORT

log = logging.getLogger("lab.supervisor")

CONTROL_PORT = 10000
CONTROL_URL = f"http://{API_ADDRESS}:{CONTROL_PORT}"

Controller = Callable[["Supervisor"], Awaitable[None]]


class Supervisor:
    def __init__(self, paths: LabPaths, controllers: list[Controller] | None = None) -> None:
        self.paths = paths
        self.state = LabState.load(paths.state_file)
        self.runtime = detect_runtime(self.state.etcd_flavor)
        self.hosts = HostManager(paths, self.runtime)
        self.lb = ApiLoadBalancer(API_ADDRESS, API_PORT, self.api_backends)
        self.controllers = controllers or []
        self.http: aiohttp.ClientSession | None = None
        self.stop = asyncio.Event()
        self.creds = Credentials(paths.pki)
        self.access = ClusterAccess(self.creds)
        # node name -> (monotonic time, the kubelet's /pods report); filled by the kubelet controller
        self.kubelet_reports: dict[str, tuple[float, dict[str, Any]]] = {}
        self.ready_nodes: set[str] = set()
        self.pods_ready_nodes: set[str] = set()
        self.state_lock = asyncio.Lock()
        self._background: set[asyncio.Future[None]] = set()

    def store(self) -> Store:
        """Objects in etcd, through every current host's member."""
        return self.access.store([h.spec.client_url for h in self.state.hosts])

    def api_backends(self) -> list[str]:
        return [f"{h.ip}:{API_PORT}" for h in self.state.hosts if h.powered]

    def background(self, work: Awaitable[None]) -> None:
        """Run ``work`` beside the controllers, keeping a reference so it is not garbage-collected."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def save_state(self) -> None:
        self.state.save(self.paths.state_file)

    async def etcd_health(self) -> dict[str, bool]:
        """Each powered member's own view of its health (etcd's /health on the metrics port)."""
        assert self.http is not None

        async def one(ip: str) -> bool:
            try:
                async with self.http.get(f"http://{ip}:{ETCD_METRICS_PORT}/health") as resp:  # type: ignore[union-attr]
                    body = await resp.json(content_type=None)
                    return resp.status == 200 and body.get("health") == "true"
            except (aiohttp.ClientError, TimeoutError, ValueError):
                return False

        results = await asyncio.gather(*(one(h.ip) for h in self.state.hosts))
        return {h.spec.node: ok for h, ok in zip(self.state.hosts, results, strict=True)}

    async def status(self) -> dict[str, Any]:
        health = await self.etcd_health()
        return {
            "lab_dir": str(self.paths.root),
            "hosts": [
                {
                    "name": h.spec.name,
                    "ip": h.ip,
                    "node": h.spec.node,
                    "machine": h.spec.machine,
                    "powered": h.powered,
                    "running": self.hosts.is_running(h.spec.name),
                    "etcd_healthy": health.get(h.spec.node, False),
                }
                for h in self.state.hosts
            ],
            "api": {"address": f"{API_ADDRESS}:{API_PORT}", "healthy_backends": self.lb.healthy},
            "seeded": self.state.seeded,
            "ready_nodes": sorted(self.ready_nodes),
            "pods_ready_nodes": sorted(self.pods_ready_nodes),
            "faults": self.state.faults,
        }

    def control_app(self) -> web.Application:
        app = web.Application()

        async def status(_: web.Request) -> web.Response:
            return web.json_response(await self.status())

        async def shutdown(_: web.Request) -> web.Response:
            self.stop.set()
            return web.json_response({"stopping": True})

        async def fault(request: web.Request) -> web.Response:
            from lab import faults

            body = await request.json()
            kind, target = body.get("kind", ""), body.get("target", "")
            actions = {
                "stop-machine": lambda: faults.stop_machine(self, target),
                "crashloop": lambda: faults.crashloop(self, target),
                "lose-quorum": lambda: faults.lose_quorum(self),
                "delete-object": lambda: faults.delete_object(self, target, body.get("namespace")),
                "expire-kubelet-certs": lambda: faults.expire_kubelet_certs(self),
            }
            if kind not in actions:
                return web.json_response(
                    {"error": f"unknown fault {kind!r}; one of {', '.join(actions)}"}, status=400
                )
            try:
                return web.json_response({"message": await actions[kind]()})
            except faults.FaultError as exc:
                return web.json_response({"error": str(exc)}, status=400)

        async def heal(_: web.Request) -> web.Response:
            from lab import faults

            return web.json_response({"messages": await faults.heal(self)})

        app.add_routes(
            [
                web.get("/status", status),
                web.post("/shutdown", shutdown),
                web.post("/faults", fault),
                web.post("/heal", heal),
            ]
        )
        app["supervisor"] = self
        return app

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2))
        runner = web.AppRunner(self.control_app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, API_ADDRESS, CONTROL_PORT, reuse_address=True).start()
        for record in self.state.hosts:
            if record.powered:
                await self.hosts.power_on(record.spec)
        tasks = [asyncio.create_task(self.lb.run())]
        tasks += [asyncio.create_task(_forever(c, self)) for c in self.controllers]
        log.info("lab supervisor running (pid %s)", os.getpid())
        await self.stop.wait()
        log.info("stopping the lab")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.hosts.power_off_all()
        await runner.cleanup()
        await self.access.close()
        await self.http.close()


async def _forever(controller: Controller, supervisor: Supervisor) -> None:
    """Run a controller; an unexpected error is logged and the controller starts again."""
    while True:
        try:
            await controller(supervisor)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("controller %s failed; restarting it", getattr(controller, "__name__", controller))
            await asyncio.sleep(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lab.supervisor")
    parser.add_argument("--lab-dir", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    paths = LabPaths(Path(args.lab_dir))
    from lab.controllers import all_controllers

    supervisor = Supervisor(paths, all_controllers())
    paths.supervisor_pid.write_text(str(os.getpid()))
    try:
        asyncio.run(supervisor.run())
    finally:
        with contextlib.suppress(FileNotFoundError):
            paths.supervisor_pid.unlink()


if __name__ == "__main__":
    main()
