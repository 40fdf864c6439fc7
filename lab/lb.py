"""The API load balancer: one address for the cluster's API in front of every master's kube-apiserver.

Like the load balancer of a real cluster, it health-checks each kube-apiserver's ``/readyz`` (which
fails when etcd has no quorum) and forwards TCP connections, TLS untouched, to a healthy one. When no
backend is healthy it stops listening, so clients get "connection refused" at once instead of hanging:
the API is down, and nothing answers from a cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
from collections.abc import Callable

import aiohttp

log = logging.getLogger(__name__)

CHECK_INTERVAL = 1.0


class ApiLoadBalancer:
    def __init__(self, address: str, port: int, backends: Callable[[], list[str]]) -> None:
        """``backends`` returns the current ``ip:port`` list (hosts come and go)."""
        self.address = address
        self.port = port
        self._backends = backends
        self.healthy: list[str] = []
        self._server: asyncio.Server | None = None
        self._rr = itertools.count()

    async def run(self) -> None:
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        timeout = aiohttp.ClientTimeout(total=2.5)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            try:
                while True:
                    checks = [self._check(http, insecure, b) for b in self._backends()]
                    results = await asyncio.gather(*checks)
                    self.healthy = [b for b, ok in zip(self._backends(), results, strict=False) if ok]
                    await self._listen(bool(self.healthy))
                    await asyncio.sleep(CHECK_INTERVAL)
            finally:
                await self._listen(False)

    @staticmethod
    async def _check(http: aiohttp.ClientSession, tls: ssl.SSLContext, backend: str) -> bool:
        try:
            async with http.get(f"https://{backend}/readyz", ssl=tls) as resp:
                return resp.status == 200
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    async def _listen(self, wanted: bool) -> None:
        if wanted and self._server is None:
            self._server = await asyncio.start_server(
                self._forward, self.address, self.port, reuse_address=True
            )
            log.info("API load balancer listening on %s:%s", self.address, self.port)
        elif not wanted and self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            log.info("API load balancer closed: no healthy kube-apiserver")

    async def _forward(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        healthy = list(self.healthy)
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        for _ in range(len(healthy)):
            host, port = healthy[next(self._rr) % len(healthy)].rsplit(":", 1)
            with contextlib.suppress(OSError):
                upstream = await asyncio.open_connection(host, int(port))
                break
        if upstream is None:
            client_w.close()
            return
        up_r, up_w = upstream
        await asyncio.gather(_pipe(client_r, up_w), _pipe(up_r, client_w), return_exceptions=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.close()
