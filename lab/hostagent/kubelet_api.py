"""The kubelet's HTTP API on <host>:10250: pod reports, ``crictl`` data, restart, and exec.

Exec speaks the Kubernetes remote-command websocket protocol itself (channel byte first: 0 stdin,
1 stdout, 2 stderr, 3 the final Status, 4 resize, 255 close in v5), so the lab API server only relays
frames, and ``oc rsh``/``kubectl exec`` run the command in the pod's host as on a real node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
from typing import Any

from aiohttp import WSMsgType, web

from lab.hostagent.kubelet import Kubelet, container_env
from lab.hostagent.processes import ProcessTable

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def exit_status(code: int, argv: list[str]) -> dict[str, Any]:
    """The Status object that ends an exec stream, as the kubelet sends it."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command {argv}, "
        f"exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def failure_status(message: str) -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError", "code": 500}


def build_kubelet_app(kubelet: Kubelet, extra_routes: list[web.RouteDef] | None = None) -> web.Application:
    app = web.Application()

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def pods(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "node": kubelet.node_name,
                "kubeletStartedAt": kubelet.started_at.isoformat(),
                "manifestErrors": kubelet.manifest_errors,
                "items": kubelet.pod_reports(),
            }
        )

    async def containers(_: web.Request) -> web.Response:
        return web.json_response({"containers": kubelet.container_reports()})

    async def restart(_: web.Request) -> web.Response:
        kubelet.restart()
        return web.json_response({"restarted": True})

    async def exec_(request: web.Request) -> web.StreamResponse:
        ns, pod, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
        argv = request.query.getall("command", [])
        want = {k: request.query.get(k, "") in ("1", "true") for k in ("stdin", "stdout", "stderr", "tty")}
        ws = web.WebSocketResponse(protocols=PROTOCOLS)
        await ws.prepare(request)
        target = kubelet.find_container(ns, pod, container)
        if not argv:
            await _finish(ws, failure_status("you must specify at least one command for the container"))
        elif target is None or not target.running:
            await _finish(ws, failure_status(f'container "{container}" in pod "{pod}" is not running'))
        else:
            await _run(ws, kubelet.processes, argv, container_env(target.spec), want)
        return ws

    app.add_routes(
        [
            web.get("/healthz", healthz),
            web.get("/pods", pods),
            web.get("/containers", containers),
            web.post("/restart", restart),
            web.get("/exec/{namespace}/{pod}/{container}", exec_),
            web.post("/exec/{namespace}/{pod}/{container}", exec_),
            *(extra_routes or []),
        ]
    )
    return app


async def _finish(ws: web.WebSocketResponse, status: dict[str, Any]) -> None:
    with contextlib.suppress(ConnectionError):
        await ws.send_bytes(bytes([ERROR]) + json.dumps(status).encode())
        await ws.close()


async def _run(
    ws: web.WebSocketResponse,
    processes: ProcessTable,
    argv: list[str],
    env: dict[str, str],
    want: dict[str, bool],
) -> None:
    loop = asyncio.get_running_loop()
    master_fd: int | None = None
    try:
        if want["tty"]:
            master_fd, slave_fd = pty.openpty()
            env = {**env, "TERM": env.get("TERM", "xterm")}
            proc = await processes.spawn(
                *argv,
                env=env,
                cwd="/",
                stdin=slave_fd,
                stdout=slave_fd,
                stderr=slave_fd,
                start_new_session=True,
            )
            os.close(slave_fd)
        else:
            proc = await processes.spawn(
                *argv,
                env=env,
                cwd="/",
                stdin=asyncio.subprocess.PIPE if want["stdin"] else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
    except OSError as exc:
        await _finish(ws, failure_status(f'exec: "{argv[0]}": {exc.strerror}'))
        return

    async def pump(reader: asyncio.StreamReader | None, channel: int) -> None:
        if reader is None:
            return
        while chunk := await reader.read(65536):
            if (
                (channel == STDOUT and want["stdout"])
                or (channel == STDERR and want["stderr"])
                or want["tty"]
            ):
                await ws.send_bytes(bytes([channel]) + chunk)

    async def pump_pty() -> None:
        assert master_fd is not None
        while True:
            try:
                chunk = await loop.run_in_executor(None, os.read, master_fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            await ws.send_bytes(bytes([STDOUT]) + chunk)

    async def feed() -> None:
        async for msg in ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            channel, payload = msg.data[0], msg.data[1:]
            if channel == STDIN:
                if master_fd is not None:
                    os.write(master_fd, payload)
                elif proc.stdin is not None:
                    proc.stdin.write(payload)
                    await proc.stdin.drain()
            elif channel == CLOSE and payload[:1] == bytes([STDIN]) and proc.stdin is not None:
                proc.stdin.close()

    feeder = asyncio.create_task(feed())
    try:
        if master_fd is not None:
            await asyncio.gather(pump_pty(), proc.wait())
        else:
            await asyncio.gather(pump(proc.stdout, STDOUT), pump(proc.stderr, STDERR))
        code = await proc.wait()
    finally:
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
        if master_fd is not None:
            os.close(master_fd)
    await _finish(ws, exit_status(code, argv))
