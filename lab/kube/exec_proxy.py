"""``pods/exec``: relay the client's channel websocket to the kubelet of the pod's node.

kube-apiserver does not run commands; it finds the pod's node and proxies the stream to that node's
kubelet. The lab does the same: the lab kubelet on ``<node InternalIP>:<port>`` speaks the channel
protocol itself (0 stdin, 1 stdout, 2 stderr, 3 the closing Status, 255 close-signal in v5), so this
module only picks the subprotocol, dials the kubelet with it, and copies frames both ways unchanged.
When the kubelet cannot be reached the client gets a Failure Status on the error channel, which
kubectl and the Python client print like a real cluster's "error dialing backend".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
from aiohttp import web

from lab.kube.errors import BadRequest, InternalError, status_object
from lab.kube.objects import KubeObject

__all__ = [
    "EXEC_PROTOCOLS",
    "ExecRelay",
    "choose_protocol",
    "default_container",
    "error_frame",
    "node_internal_ip",
]

# Preference order: v5 adds the stdin close-signal, v4 carries a structured Status on channel 3.
EXEC_PROTOCOLS = (
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
)
_ERROR_CHANNEL = 3
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"


def choose_protocol(offered: Sequence[str]) -> str | None:
    """The most capable channel protocol the client offered, or None."""
    cleaned = {p.strip() for p in offered if p.strip()}
    for protocol in EXEC_PROTOCOLS:
        if protocol in cleaned:
            return protocol
    return None


def default_container(pod: KubeObject, requested: str | None) -> str:
    """The container to run in: the requested one, the annotated default, or the first."""
    containers = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    pod_name = (pod.get("metadata") or {}).get("name", "")
    if requested:
        if requested not in containers:
            raise BadRequest(f"container {requested} is not valid for pod {pod_name}")
        return requested
    annotated = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER_ANNOTATION)
    if annotated and annotated in containers:
        return str(annotated)
    if not containers:
        raise BadRequest(f"pod {pod_name} has no containers")
    return str(containers[0])


def node_internal_ip(node: KubeObject) -> str | None:
    for address in (node.get("status") or {}).get("addresses") or []:
        if isinstance(address, Mapping) and address.get("type") == "InternalIP" and address.get("address"):
            return str(address["address"])
    return None


def error_frame(protocol: str | None, message: str) -> bytes:
    """A channel-3 frame carrying a Failure (Status JSON for v4/v5, plain text before)."""
    if protocol in ("v4.channel.k8s.io", "v5.channel.k8s.io"):
        payload = json.dumps(status_object(500, "InternalError", message)).encode()
    else:
        payload = message.encode()
    return bytes([_ERROR_CHANNEL]) + payload


class ExecRelay:
    """Proxies exec websockets to kubelets; owns the client session used to dial them."""

    def __init__(self, kubelet_port: int = 10250, dial_timeout: float = 3.0) -> None:
        self.kubelet_port = kubelet_port
        self.dial_timeout = dial_timeout
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.dial_timeout)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def kubelet_url(self, host: str, namespace: str, pod: str, container: str, query_string: str) -> str:
        url = f"ws://{host}:{self.kubelet_port}/exec/{namespace}/{pod}/{container}"
        return f"{url}?{query_string}" if query_string else url

    async def serve(
        self, request: web.Request, pod: KubeObject, node: KubeObject | None
    ) -> web.StreamResponse:
        """Upgrade the client's request and relay it; errors before the upgrade are raised."""
        ws_ready = web.WebSocketResponse().can_prepare(request)
        if not ws_ready.ok:
            raise BadRequest("Upgrade request required")
        offered = [
            p for value in request.headers.getall("Sec-WebSocket-Protocol", []) for p in value.split(",")
        ]
        protocol = choose_protocol(offered)
        if offered and protocol is None:
            raise BadRequest(f"none of the offered subprotocols is supported: {', '.join(offered)}")
        meta = pod.get("metadata") or {}
        container = default_container(pod, request.query.get("container"))
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            raise BadRequest(f"pod {meta.get('name')} does not have a host assigned")
        host = node_internal_ip(node) if node is not None else None
        if host is None:
            raise InternalError(f"error dialing backend: node {node_name!r} has no InternalIP address")
        url = self.kubelet_url(
            host, str(meta.get("namespace")), str(meta.get("name")), container, request.query_string
        )

        client_ws = web.WebSocketResponse(
            protocols=[protocol] if protocol else (), max_msg_size=0, autoping=True
        )
        kubelet_ws: aiohttp.ClientWebSocketResponse | None = None
        dial_error = ""
        try:
            kubelet_ws = await asyncio.wait_for(
                self._http().ws_connect(url, protocols=[protocol] if protocol else (), max_msg_size=0),
                timeout=self.dial_timeout,
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            dial_error = f"error dialing backend: {type(exc).__name__}: {exc}".rstrip(": ")
        await client_ws.prepare(request)
        if kubelet_ws is None:
            await client_ws.send_bytes(error_frame(protocol, dial_error))
            await client_ws.close()
            return client_ws
        try:
            await self._relay(client_ws, kubelet_ws)
        finally:
            await kubelet_ws.close()
            if not client_ws.closed:
                await client_ws.close()
        return client_ws

    @staticmethod
    async def _pump(
        source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
        sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    ) -> None:
        async for message in source:
            if message.type is aiohttp.WSMsgType.BINARY:
                await sink.send_bytes(message.data)
            elif message.type is aiohttp.WSMsgType.TEXT:
                await sink.send_str(message.data)
            else:
                break

    async def _relay(
        self, client_ws: web.WebSocketResponse, kubelet_ws: aiohttp.ClientWebSocketResponse
    ) -> None:
        upstream = asyncio.create_task(self._pump(client_ws, kubelet_ws))
        downstream = asyncio.create_task(self._pump(kubelet_ws, client_ws))
        tasks: set[asyncio.Task[Any]] = {upstream, downstream}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if downstream in done:
                # The command ended: everything it said has been forwarded; close the client side.
                await client_ws.close(code=kubelet_ws.close_code or aiohttp.WSCloseCode.OK)
            else:
                await kubelet_ws.close()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
                    await task
