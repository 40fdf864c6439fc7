"""Socket Mode: websocket sessions opened via ``apps.connections.open``, envelope delivery and acks.

Like Slack, each envelope goes to one open connection (round robin), and one not acked within the
ack timeout is sent again with ``retry_attempt``/``retry_reason`` up to ``max_retries`` times.
Latency is measured here, from sending an envelope to receiving its ack.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import WSMsgType, web

from lab.slack.model import JSON, Attempt, Delivery


@dataclass
class Ack:
    """An ack as received: which connection sent it, when, and the optional response payload."""

    connection: str
    at: float
    payload: JSON | None


class SocketHub:
    """The app's open Socket Mode connections and the envelopes in flight."""

    def __init__(self, ws_base: Callable[[], str], app_id: str, ack_timeout: float, max_retries: int) -> None:
        self.ws_base = ws_base
        self.app_id = app_id
        self.ack_timeout = ack_timeout
        self.max_retries = max_retries
        self.tickets: set[str] = set()
        self.connections: dict[str, web.WebSocketResponse] = {}
        self.pending: dict[str, asyncio.Future[Ack]] = {}
        self._turn = itertools.count()

    def issue_ticket(self) -> str:
        """A fresh websocket URL, as ``apps.connections.open`` returns."""
        ticket = secrets.token_urlsafe(16)
        self.tickets.add(ticket)
        return f"{self.ws_base()}/socket-mode/{ticket}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["ticket"] not in self.tickets:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn_id = f"conn-{uuid.uuid4().hex[:8]}"
        self.connections[conn_id] = ws
        hello = {
            "type": "hello",
            "num_connections": len(self.connections),
            "debug_info": {"host": "local-slack", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        }
        try:
            await ws.send_str(json.dumps(hello))
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._on_text(conn_id, msg.data)
        finally:
            self.connections.pop(conn_id, None)
        return ws

    def _on_text(self, conn_id: str, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        future = self.pending.get(str(message.get("envelope_id")))
        if future is not None and not future.done():
            payload = message.get("payload")
            future.set_result(
                Ack(conn_id, time.perf_counter(), payload if isinstance(payload, dict) else None)
            )

    def _pick(self) -> tuple[str, web.WebSocketResponse] | None:
        live = [(cid, ws) for cid, ws in self.connections.items() if not ws.closed]
        if not live:
            return None
        return live[next(self._turn) % len(live)]

    async def deliver(
        self, delivery: Delivery, envelope_type: str, payload: JSON, accepts_response: bool
    ) -> None:
        """Send one envelope until acked or retries run out, filling ``delivery`` as it goes."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Ack] = loop.create_future()
        self.pending[delivery.id] = future
        try:
            for attempt in range(self.max_retries + 1):
                picked = self._pick()
                if picked is None:
                    delivery.error = "no_socket_mode_connection"
                    return
                conn_id, ws = picked
                envelope = {
                    "envelope_id": delivery.id,
                    "type": envelope_type,
                    "accepts_response_payload": accepts_response,
                    "payload": payload,
                    "retry_attempt": attempt,
                    "retry_reason": "timeout" if attempt else "",
                }
                sent_at = time.perf_counter()
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.send_str(json.dumps(envelope))
                delivery.attempts.append(Attempt(attempt, conn_id, time.time()))
                done, _ = await asyncio.wait({future}, timeout=self.ack_timeout)
                if done:
                    ack = future.result()
                    delivery.acked, delivery.acked_by = True, ack.connection
                    delivery.ack_latency_ms = round((ack.at - sent_at) * 1000, 3)
                    delivery.ack_payload = ack.payload
                    return
            delivery.error = "timeout"
        finally:
            self.pending.pop(delivery.id, None)

    async def close(self) -> None:
        """Tell clients Slack is going away (as Slack does before maintenance) and close sockets."""
        for ws in list(self.connections.values()):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(json.dumps({"type": "disconnect", "reason": "warning"}))
            await ws.close()
